//go:build integration

package controlplane_test

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestNewOutsideATest starts a control plane the way the lab does: New, a bind address other
// than 127.0.0.1 (127.0.0.2 is on lo in every namespace), a work dir that Close leaves alone.
func TestNewOutsideATest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cp")
	bind := netip.MustParseAddr("127.0.0.2")
	c, err := controlplane.New(controlplane.WithBindAddress(bind), controlplane.WithWorkDir(dir), controlplane.WithStartTimeout(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Close()
		}
	})
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Hostname(); got != bind.String() {
		t.Errorf("Config.Host is on %s, want %s", got, bind)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(t.Context(), metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		t.Errorf("API server on %s: %v", bind, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if c.APIServer.Running() || c.Etcd.Running() {
		t.Error("components still running after Close")
	}
	for _, f := range []string{"ca.crt", "admin.kubeconfig", "logs/kube-apiserver.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("Close with WithWorkDir removed %s: %v", f, err)
		}
	}
}
