package testkit

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// ChildEnvVar is the environment variable that makes a test binary run as one of its own
// children: the re-exec pattern, by which a test starts a real process (frontdesk-controller's
// command, a speaker in a node's namespace, a fake component) from code of its own package,
// without a separate build. Its value is "role" or "role:payload".
const ChildEnvVar = "FRONTDESK_TEST_CHILD"

// Main is the TestMain of a package whose tests start children: run as a child, the binary runs
// its role's function with the payload and exits with its code; otherwise it runs the tests.
// An unknown role exits with 2, naming it: a child must never fall through to running the tests.
func Main(m *testing.M, roles map[string]func(payload string) int) {
	v, ok := os.LookupEnv(ChildEnvVar)
	if !ok {
		os.Exit(m.Run())
	}
	role, payload, _ := strings.Cut(v, ":")
	run, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s=%q: no such role in this test binary\n", ChildEnvVar, v)
		os.Exit(2)
	}
	os.Exit(run(payload))
}

// ChildEnv is the environment of a child in role, given payload: this process's environment
// without its own ChildEnvVar (a child that starts children of its own must not hand them its
// role: with the variable twice one would win, and a child could start itself without end),
// then the child's, then extra.
func ChildEnv(role, payload string, extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+1+len(extra))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ChildEnvVar+"=") {
			env = append(env, kv)
		}
	}
	v := role
	if payload != "" {
		v += ":" + payload
	}
	return append(append(env, ChildEnvVar+"="+v), extra...)
}

// Self is the running test binary, to start as a child.
func Self(t TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("the test binary's path: %v", err)
	}
	return self
}
