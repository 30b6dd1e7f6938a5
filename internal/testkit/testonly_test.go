package testkit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// testOnly are the packages, each with those below it, that exist for tests: builders, fixtures,
// fakes and harnesses. None may reach a binary.
var testOnly = []string{
	"github.com/frontdesk-lb/frontdesk/internal/testkit",
	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest",
	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb",
	"github.com/frontdesk-lb/frontdesk/test",
}

// TestBinariesLinkNoTestPackage lists what the commands link (go list -deps ./cmd/...) and fails
// on any test-only package: a fixture imported by product code by mistake ships in the images.
func TestBinariesLinkNoTestPackage(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/...: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps ./cmd/... gave %d packages; the commands link hundreds", len(deps))
	}
	for _, dep := range deps {
		for _, p := range testOnly {
			if dep == p || strings.HasPrefix(dep, p+"/") {
				t.Errorf("a command links %s, a package for tests only", dep)
			}
		}
	}
}
