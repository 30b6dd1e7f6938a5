package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Component.Stop when the process is not running.
var ErrNotRunning = errors.New("component is not running")

// stopGrace is how long a component gets to exit after SIGTERM before its
// process group is killed. kube-apiserver drains requests on SIGTERM; tests
// do not need that to finish, so the wait is short.
const stopGrace = 5 * time.Second

// Component is one control-plane process (etcd, kube-apiserver, ...). Tests use
// it to take a component away and bring it back, for example to check that a
// controller survives the API server being unreachable. Start and Restart
// reuse the same ports, certificates and data, so clients built from the
// Cluster's configs keep working once the component is back.
type Component struct {
	name    string
	bin     string
	args    func() []string
	ready   func(ctx context.Context) error
	logPath string
	timeout time.Duration // how long Start waits for ready
	grace   time.Duration // how long Stop waits after SIGTERM

	mu  sync.Mutex // serialises Start and Stop; guards cur
	cur *run       // the latest run; nil before the first Start
}

// run is one execution of a Component's process.
type run struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	err    error         // cmd.Wait's result; read only after done is closed
	logOff int64         // size of the log when this run started
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Name is the component's binary name, e.g. "kube-apiserver".
func (c *Component) Name() string { return c.name }

// LogPath is the file the component's stdout and stderr go to. Restarts append
// to the same file, each run starting with a "=== start" line.
func (c *Component) LogPath() string { return c.logPath }

// Running reports whether the process has been started and has not exited.
func (c *Component) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningLocked()
}

func (c *Component) runningLocked() bool {
	return c.cur != nil && !c.cur.exited()
}

// Start starts the process and waits until its readiness probe passes (see
// the *Ready methods of Cluster) or the start timeout passes. Starting a
// running component is an error.
func (c *Component) Start(ctx context.Context) error {
	if err := c.spawn(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop()
		return err
	}
	return nil
}

// Restart stops the component (if running) and starts it again.
func (c *Component) Restart(ctx context.Context) error {
	if err := c.Stop(); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return c.Start(ctx)
}

// Stop sends SIGTERM to the component's process group, waits up to a few
// seconds and then kills the group. It returns ErrNotRunning if the process
// was not running.
func (c *Component) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.runningLocked() {
		return fmt.Errorf("stop %s: %w", c.name, ErrNotRunning)
	}
	r := c.cur
	pgid := r.cmd.Process.Pid // Setpgid makes the group id the leader's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(c.grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.done
	}
	// The group may hold children that outlived the leader; they have no
	// business running once the component is stopped.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

func (c *Component) spawn() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runningLocked() {
		return fmt.Errorf("start %s: already running (pid %d)", c.name, c.cur.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor
	st, err := logf.Stat()
	if err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	args := c.args()
	if _, err := fmt.Fprintf(logf, "=== start %s %s %s\n", time.Now().Format(time.RFC3339Nano), c.bin, strings.Join(args, " ")); err != nil {
		return fmt.Errorf("start %s: write %s: %w", c.name, c.logPath, err)
	}

	cmd := exec.Command(c.bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{}), logOff: st.Size()}
	c.cur = r
	// The only goroutine a Component owns: it ends when the process exits,
	// which Stop guarantees by killing the process group.
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	return nil
}

// exitedError reports why a component stopped before it became ready, with
// the end of its log, which is where the reason is.
type exitedError struct {
	name    string
	waitErr error
	tail    string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("%s exited before it was ready (%v); end of its log:\n%s", e.name, e.waitErr, e.tail)
}

// addrInUse reports whether a component exited because one of its ports was
// taken between the moment it was picked and the moment it was bound.
func (e *exitedError) addrInUse() bool {
	return strings.Contains(e.tail, "address already in use")
}

func (c *Component) waitReady(ctx context.Context) error {
	c.mu.Lock()
	r := c.cur
	c.mu.Unlock()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-r.done:
			return &exitedError{name: c.name, waitErr: r.err, tail: c.logSince(r, 40)}
		default:
		}
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = c.ready(probeCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w (last probe: %w); end of its log:\n%s",
				c.name, c.timeout, ctx.Err(), lastErr, c.logSince(r, 40))
		case <-r.done:
		case <-tick.C:
		}
	}
}

// logSince returns at most the n last lines written since run r started.
func (c *Component) logSince(r *run, n int) string {
	b, err := readFrom(c.logPath, r.logOff)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	return tailLines(b, n)
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// maxLineLen bounds each printed log line: kube-apiserver logs whole objects
// on some errors and one such line must not drown the rest.
const maxLineLen = 500

// tailLines returns the last n lines of b, each cut to maxLineLen bytes.
func tailLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "(empty)"
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		if len(l) > maxLineLen {
			l = append(l[:maxLineLen:maxLineLen], "…"...)
		}
		sb.Write(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}
