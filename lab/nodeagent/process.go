package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// container is one container of a running Pod: its program, its current process and what is
// known of the last one that exited. The agent's loop owns it; the goroutine waiting on a process
// writes only into that process's run.
type container struct {
	spec     corev1.Container
	argv     []string
	argvErr  error // the image or command cannot run here: the container waits forever
	cur      *run  // nil before the first start and after an exit has been recorded
	last     *run  // the last exited run
	restarts int32
	next     time.Time // earliest next start (back-off)
	ready    bool
}

// run is one process of a container.
type run struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed by the waiting goroutine after code and finished are set
	code    int
	ended   time.Time
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// start runs the container's program inside the Pod's namespace. wake is poked when it exits.
func (c *container) start(ns, hostname, logPath string, env []string, wake func(), wg *sync.WaitGroup) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor
	_, _ = fmt.Fprintf(logf, "=== %s start %q\n", time.Now().UTC().Format(time.RFC3339), c.argv)
	// `ip netns exec` enters the namespace and mounts /etc/netns/<ns>/resolv.conf; unshare gives
	// the Pod a UTS namespace whose hostname is the Pod's name, as a kubelet does. Each execs the
	// next, so the program keeps ip's pid.
	argv := append([]string{"netns", "exec", ns, "unshare", "--uts", "--", "/bin/sh", "-c",
		`hostname "$0" && exec "$@"`, hostname}, c.argv...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a stop reaches the children of a shell; killed if the
	// agent dies, as a kubelet's containers would be if their node died.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	r := &run{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	c.cur = r
	wg.Go(func() {
		err := cmd.Wait()
		r.code = 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			r.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			r.code = 128
		}
		r.ended = time.Now()
		close(r.done)
		wake()
	})
	return nil
}

// signal sends sig to the process group of the running process, if any.
func (c *container) signal(sig syscall.Signal) {
	if c.cur != nil && !c.cur.exited() {
		_ = syscall.Kill(-c.cur.cmd.Process.Pid, sig)
	}
}

// backoff is the kubelet's crash-loop delay: 10 s doubling to 5 min; shorter here (1 s to
// 30 s) so that the lab recovers quickly.
func backoff(restarts int32) time.Duration {
	d := time.Second << min(restarts, 5)
	return min(d, 30*time.Second)
}

// stop sends SIGTERM, waits up to grace for the processes to end, then SIGKILLs them.
func stop(cs []*container, grace time.Duration) {
	for _, c := range cs {
		c.signal(syscall.SIGTERM)
	}
	expired, timedOut := time.After(grace), false
	for _, c := range cs {
		if c.cur == nil || timedOut {
			continue
		}
		select {
		case <-c.cur.done:
		case <-expired:
			timedOut = true
		}
	}
	for _, c := range cs {
		c.signal(syscall.SIGKILL)
		if c.cur != nil {
			<-c.cur.done
		}
	}
}
