package manager

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/component-base/version"
)

// --version prints the version and exits 0 without a --cloud-provider: the image's entrypoint
// check and `frontdesk-controller --version` on a workstation. verflag ends the process, so the
// command runs in a child: this test binary again, with FRONTDESK_TEST_VERSION_CHILD set.
func TestVersionFlagNeedsNoProvider(t *testing.T) {
	if os.Getenv("FRONTDESK_TEST_VERSION_CHILD") == "1" {
		cmd := NewCommand(make(chan struct{}))
		cmd.SetArgs([]string{"--version"})
		_ = cmd.Execute()
		os.Exit(3) // not reached when --version is honoured
	}
	child := exec.Command(os.Args[0], "-test.run=^TestVersionFlagNeedsNoProvider$")
	child.Env = append(os.Environ(), "FRONTDESK_TEST_VERSION_CHILD=1")
	out, err := child.CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	// Without the Makefile's -ldflags the version is component-base's placeholder.
	if want := version.Get().GitVersion; !strings.Contains(string(out), want) {
		t.Errorf("--version printed %q, want it to contain %q", out, want)
	}
}
