package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// restartDelay is how long an exited component waits before it runs again: a DaemonSet Pod is
// re-created, a systemd unit restarted. Deleting a speaker is "kill it"; it comes back.
const restartDelay = 3 * time.Second

// stopGrace is how long a component has to exit after SIGTERM.
const stopGrace = 5 * time.Second

// proc is one supervised component: a command run in a namespace, restarted when it exits, its
// output appended to a log file.
type proc struct {
	name string   // e.g. "speaker/node1"; the log is logs/<name with / as _>.log
	ns   string   // run in this network namespace (netns.Enter) unless empty (then in the supervisor's)
	argv []string // program and arguments
	env  []string // added to the supervisor's environment
	log  string
	// before, if set, runs before each start; an error is logged and counts as an exit.
	before func(context.Context) error
}

// supervise runs p until ctx ends, restarting it, and records its pid in the state. It returns
// once the last process has exited.
func (s *supervisor) supervise(ctx context.Context, p proc) {
	for {
		cmd := p.command()
		var err error
		if p.before != nil {
			err = p.before(ctx)
		}
		if err == nil {
			err = s.startLogged(cmd, p)
		}
		if err == nil {
			_ = s.state.update(func(st *State) { st.Pids[p.name] = cmd.Process.Pid })
			done := make(chan struct{})
			go func() { // ends when the process does; stopGroup makes sure of that
				err = cmd.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-ctx.Done():
				stopGroup(cmd.Process.Pid, done)
				return
			}
		}
		s.exited(p.name, err)
		s.progressf("%s exited (%v); restarting in %s", p.name, err, restartDelay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(restartDelay):
		}
	}
}

func (p proc) command() *exec.Cmd {
	argv := p.argv
	if p.ns != "" {
		argv = netns.Enter(p.ns, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	// Own process group, so that a stop reaches its children; killed by the kernel if the
	// supervisor dies. (containerd's shims leave its group: Pods outlive a containerd restart.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (s *supervisor) startLogged(cmd *exec.Cmd, p proc) error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "=== %s start %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	return cmd.Start()
}

// stopGroup sends SIGTERM to the process group of pid, SIGKILL after stopGrace, and waits for
// the leader (done is its Wait).
func stopGroup(pid int, done <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // children that outlived the leader
}

// group runs supervised components and stops them in reverse order of start.
type group struct {
	mu      sync.Mutex
	cancels []func()
}

func (g *group) add(cancel func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancels = append(g.cancels, cancel)
}

func (g *group) stopAll() {
	g.mu.Lock()
	cs := g.cancels
	g.cancels = nil
	g.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
