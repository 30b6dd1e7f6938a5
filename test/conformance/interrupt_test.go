package conformance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An interrupted run reaches every process of the group, as ^C does, not only the one started: a
// child that counts its interrupts and a parent that stops only at the second show both the group
// signal and the second interrupt, grace after the first.
func TestRunInterruptible(t *testing.T) {
	dir := t.TempDir()
	childLog := filepath.Join(dir, "child")
	script := `
(trap 'echo int >> "$1"' INT; while :; do sleep 0.02; done) &
n=0
trap 'n=$((n+1)); if [ $n -ge 2 ]; then kill -9 $!; exit 3; fi' INT
while :; do sleep 0.02; done`
	cmd := exec.Command("bash", "-c", script, "_", childLog)
	ctx, cancel := context.WithCancel(t.Context())
	const grace = 300 * time.Millisecond
	errc := make(chan error, 1)
	go func() { errc <- runInterruptible(ctx, cmd, grace) }()
	time.Sleep(200 * time.Millisecond) // let bash set its traps
	began := time.Now()
	cancel()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("not stopped 10 s after the interrupt")
	}
	took := time.Since(began)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("got %v, want exit status 3: the script leaves at the second interrupt", err)
	}
	if took < grace || took > grace+2*time.Second {
		t.Errorf("stopped %s after the first interrupt, want the second one, %s later", took, grace)
	}
	b, _ := os.ReadFile(childLog)
	if n := strings.Count(string(b), "int"); n < 1 {
		t.Errorf("the child saw %d interrupts: the group was not signalled", n)
	}
}

// A command that ignores interrupts is killed, grace after the second.
func TestRunInterruptibleKillsTheDeaf(t *testing.T) {
	cmd := exec.Command("bash", "-c", `trap '' INT; while :; do sleep 0.02; done`)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- runInterruptible(ctx, cmd, 100*time.Millisecond) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("got %v, want killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not killed")
	}
}

// Without an interrupt the command's own result comes back.
func TestRunInterruptibleFinishes(t *testing.T) {
	if err := runInterruptible(t.Context(), exec.Command("true"), time.Second); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := runInterruptible(t.Context(), exec.Command("false"), time.Second); !errors.As(err, &exit) {
		t.Fatalf("got %v, want the exit status", err)
	}
}
