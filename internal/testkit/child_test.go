package testkit

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	Main(m, map[string]func(string) int{
		"echo": func(payload string) int {
			// A child's own environment must name only its role.
			if n := strings.Count(strings.Join(os.Environ(), "\n"), ChildEnvVar+"="); n != 1 {
				return 3
			}
			if _, err := os.Stdout.WriteString(payload); err != nil {
				return 4
			}
			return 0
		},
		"fail": func(string) int { return 7 },
	})
}

func TestChildRunsItsRole(t *testing.T) {
	t.Setenv(ChildEnvVar, "leaked:from-a-parent") // as if this test ran inside a child
	cmd := exec.Command(Self(t), "-test.run=^$")
	cmd.Env = ChildEnv("echo", "a:b c", "EXTRA=1")
	out, err := cmd.Output()
	if err != nil || string(out) != "a:b c" {
		t.Fatalf("echo child: %q, %v; want the payload back and exit 0", out, err)
	}
	for role, want := range map[string]int{"fail": 7, "nope": 2} {
		cmd := exec.Command(Self(t), "-test.run=^$")
		cmd.Env = ChildEnv(role, "")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != want {
			t.Errorf("role %s: %v, want exit code %d", role, err, want)
		}
	}
}
