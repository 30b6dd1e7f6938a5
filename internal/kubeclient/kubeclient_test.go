package kubeclient

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://192.0.2.1:6443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFromFile(t *testing.T) {
	p := writeKubeconfig(t)
	cfg, err := Config(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://192.0.2.1:6443" || cfg.BearerToken != "t" {
		t.Errorf("Config = host %q token %q, want the kubeconfig's server and token", cfg.Host, cfg.BearerToken)
	}
	// Zero options keep client-go's defaults, which rest.Config leaves as zero.
	if cfg.QPS != 0 || cfg.Burst != 0 || cfg.UserAgent != "" {
		t.Errorf("Config with zero Options = QPS %v Burst %d UserAgent %q, want them unset", cfg.QPS, cfg.Burst, cfg.UserAgent)
	}

	cfg, err = Config(p, Options{UserAgent: "frontdesk-test", QPS: 50, Burst: 100})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != 50 || cfg.Burst != 100 || cfg.UserAgent != "frontdesk-test" {
		t.Errorf("Config = QPS %v Burst %d UserAgent %q, want 50, 100, frontdesk-test", cfg.QPS, cfg.Burst, cfg.UserAgent)
	}
}

func TestConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := Config(missing, Options{})
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Config(missing file) = %v, want an error naming the file and wrapping fs.ErrNotExist", err)
	}
	// Outside a Pod there is no in-cluster config: an empty path must say so, not fall back to
	// a default server.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	if _, err := Config("", Options{}); err == nil || !strings.Contains(err.Error(), "no --kubeconfig and not in a cluster") {
		t.Errorf("Config(\"\") outside a cluster = %v, want the in-cluster error", err)
	}
}
