package conformance

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// runInterruptible runs cmd in a process group of its own and, once ctx is done, interrupts the
// whole group as ^C in a terminal does: the ginkgo CLI forwards nothing to its test processes,
// which each handle SIGINT themselves, so signalling the CLI alone left them running until
// WaitDelay killed everything, reports lost. A first SIGINT makes ginkgo stop the tests, run their
// clean-up and write its reports; if it is still running grace later, a second skips the clean-up
// (the reports are still written); grace after that the group is killed. The interrupt reaches
// every process of the group, cmd's included, once each time.
func runInterruptible(ctx context.Context, cmd *exec.Cmd, grace time.Duration) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGKILL} {
		// The group cannot have been reused: its leader, cmd, has not been waited for.
		_ = syscall.Kill(-pgid, sig)
		select {
		case err := <-done:
			return err
		case <-time.After(grace):
		}
	}
	return <-done
}
