package supervisor

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// TestBootIDs: each node gets a boot ID of its own, in the form the speaker reads
// (--boot-id-file), and a renewal changes only that node's.
func TestBootIDs(t *testing.T) {
	kube := fake.NewClientset()
	nodes := []string{"node1", "node2", "node3"}
	if err := writeBootIDs(t.Context(), kube, ChartNamespace, nodes); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]string {
		t.Helper()
		cm, err := kube.CoreV1().ConfigMaps(ChartNamespace).Get(t.Context(), BootIDConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data
	}
	first := get()
	seen := map[string]bool{}
	for _, n := range nodes {
		if _, err := liveness.ParseBootID(first[n]); err != nil || seen[first[n]] {
			t.Errorf("%s: boot ID %q (%v), want a UUID of its own", n, first[n], err)
		}
		seen[first[n]] = true
	}
	id, err := RenewBootID(t.Context(), kube, "node2")
	if err != nil {
		t.Fatal(err)
	}
	after := get()
	if after["node2"] != id || id == first["node2"] || after["node1"] != first["node1"] || after["node3"] != first["node3"] {
		t.Errorf("after renewing node2: %v (was %v)", after, first)
	}
	// A lab made again over a half-removed one replaces the ConfigMap.
	if err := writeBootIDs(t.Context(), kube, ChartNamespace, nodes); err != nil {
		t.Fatal(err)
	}
	if again := get(); again["node1"] == first["node1"] {
		t.Errorf("written again: node1 kept %s", again["node1"])
	}
}
