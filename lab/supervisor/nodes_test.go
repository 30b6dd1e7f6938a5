package supervisor

import (
	"errors"
	"strings"
	"testing"
)

// A node component that exits and runs again after its restart is no failure of the lab (the
// kubelets' shared device-plugin socket can make one exit once at start); one that keeps exiting
// is, named with its last error.
func TestNodeFailureGivesRestartsTheirChance(t *testing.T) {
	s := &supervisor{}
	for range nodeFailureExits {
		s.exited("kube-scheduler", errors.New("exit status 1")) // not a node component, however often
	}
	for range nodeFailureExits - 1 {
		s.exited("kubelet/node1", errors.New("exit status 1"))
	}
	if err := s.nodeFailure(); err != nil {
		t.Fatalf("after %d exits: %v, want none", nodeFailureExits-1, err)
	}
	s.exited("kubelet/node1", errors.New("exit status 2"))
	err := s.nodeFailure()
	if err == nil || !strings.Contains(err.Error(), "kubelet/node1 exited (exit status 2)") {
		t.Fatalf("after %d exits: %v, want kubelet/node1's last exit", nodeFailureExits, err)
	}
}
