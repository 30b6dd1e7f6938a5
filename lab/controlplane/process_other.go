//go:build !linux

package controlplane

import "syscall"

// sysProcAttr puts each component in its own process group, so Stop can signal
// everything it started. Only Linux can also tie the child's life to ours.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
