package controlplane

import "syscall"

// sysProcAttr puts each component in its own process group, so Stop can signal
// everything it started, and asks the kernel to kill it if the test binary
// dies without running its cleanups (go test's -timeout exits the process
// directly, and t.Cleanup never runs then).
//
// Pdeathsig fires when the OS thread that forked the child exits, not the
// process; the Go runtime does not retire threads that are not locked with
// runtime.LockOSThread, and nothing here locks one.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
