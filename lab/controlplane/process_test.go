//go:build linux

package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// The process tests run this test binary itself as the component (role "helper"), in one of
// the modes below (the payload), so they need no binary from hack/k8s.
func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{
		"helper": func(mode string) int { return runHelper(mode, os.Args[1:]) },
	})
}

// waitForever blocks until a signal ends the process. Not select{}: in a static build
// (CGO_ENABLED=0, as make builds everything) the runtime takes a process with every goroutine
// blocked and no timer pending for a deadlock and exits; a pending timer is not one. It returns
// nothing: its result only lets the helper's modes end in a return.
func waitForever() int {
	for {
		time.Sleep(time.Hour)
	}
}

// runHelper is the fake component. args[0] is a directory it reports in.
func runHelper(mode string, args []string) int {
	dir := args[0]
	switch mode {
	case "serve":
		// Ready once the file exists; a child in the same process group
		// checks that Stop reaches the whole group.
		child, err := startHelper("sleep", dir)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		_ = os.WriteFile(filepath.Join(dir, "child.pid"), []byte(strconv.Itoa(child.Pid)), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
		return waitForever()
	case "sleep":
		return waitForever()
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM)
		_ = os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
		return waitForever()
	case "addr-in-use":
		// What kube-apiserver and etcd print when a port was taken.
		fmt.Println("listen tcp 127.0.0.1:6443: bind: address already in use")
		return 1
	default:
		fmt.Println("unknown helper mode", mode)
		return 2
	}
}

func startHelper(mode, dir string) (*os.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// ChildEnv replaces this process's role: a "serve" helper starts a "sleep" one.
	return os.StartProcess(self, []string{self, dir}, &os.ProcAttr{
		Env:   testkit.ChildEnv("helper", mode),
		Files: []*os.File{nil, os.Stdout, os.Stderr},
	})
}

// helperComponent is a Component that runs this binary in mode.
func helperComponent(t *testing.T, mode string) (*Component, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv(testkit.ChildEnvVar, "helper:"+mode) // inherited by the child
	c := &Component{
		name: "helper-" + mode,
		bin:  self,
		args: func() []string { return []string{dir} },
		ready: func(context.Context) error {
			_, err := os.Stat(filepath.Join(dir, "ready"))
			return err
		},
		logPath: filepath.Join(dir, "helper.log"),
		timeout: 20 * time.Second,
		grace:   200 * time.Millisecond,
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c, dir
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for processExists(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after Stop", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestComponentStopKillsProcessGroup(t *testing.T) {
	c, dir := helperComponent(t, "serve")
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !c.Running() {
		t.Fatal("Running() = false after Start")
	}
	b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err == nil {
		t.Error("second Start of a running component succeeded")
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c.Running() {
		t.Error("Running() = true after Stop")
	}
	waitGone(t, child)
	if err := c.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second Stop: err = %v, want ErrNotRunning", err)
	}

	// A restart appends to the same log.
	_ = os.Remove(filepath.Join(dir, "ready"))
	if err := c.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	log, err := os.ReadFile(c.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "=== start "); n != 2 {
		t.Errorf("log has %d start lines after one restart, want 2:\n%s", n, log)
	}
}

func TestComponentStopKillsAfterGrace(t *testing.T) {
	c, _ := helperComponent(t, "ignore-sigterm")
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c.Running() {
		t.Error("Running() = true after Stop")
	}
	if d := time.Since(start); d < c.grace {
		t.Errorf("Stop returned after %s, before the %s grace period, yet the process ignores SIGTERM", d, c.grace)
	}
}

func TestStartComponentRetriesTakenPorts(t *testing.T) {
	c, _ := helperComponent(t, "addr-in-use")
	picks := 0
	err := startComponent(t.Context(), c, func() error { picks++; return nil })
	var exited *exitedError
	if !errors.As(err, &exited) || !exited.addrInUse() {
		t.Fatalf("err = %v, want an exitedError for a taken port", err)
	}
	if picks != portAttempts {
		t.Errorf("ports picked %d times, want %d", picks, portAttempts)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error does not quote the component's log: %v", err)
	}
}

func TestComponentNotReadyTimesOut(t *testing.T) {
	c, _ := helperComponent(t, "sleep") // never writes the ready file
	c.timeout = 300 * time.Millisecond
	err := c.Start(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if c.Running() {
		t.Error("a component that never got ready was left running")
	}
}

func TestSweepStaleWorkDirs(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name, owner string) string {
		d := filepath.Join(tmp, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	live := mk(workDirPrefix+"live", strconv.Itoa(os.Getpid()))
	dead := mk(workDirPrefix+"dead", "999999999") // above any pid_max
	logs := mk(workDirPrefix+"logs-kept", "")
	other := mk("unrelated", "999999999")

	sweepStaleWorkDirs(tmp)

	for d, wantKept := range map[string]bool{live: true, dead: false, logs: true, other: true} {
		_, err := os.Stat(d)
		if kept := err == nil; kept != wantKept {
			t.Errorf("%s kept = %v, want %v", filepath.Base(d), kept, wantKept)
		}
	}
}
