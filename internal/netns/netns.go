// Package netns is the one seam to Linux network namespaces (the lab uses it, and root tests
// through netnstest): named namespaces made and removed with iproute2 (so `ip netns` lists and
// enters them the usual way), commands run inside one, and sockets opened inside one from a process
// that lives elsewhere.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// runDir is where iproute2 keeps the bind mounts that name namespaces.
const runDir = "/run/netns"

// IP runs `ip args...` and returns its output, or an error carrying the command and what it said.
func IP(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Script runs each line of lines as `ip -n ns <line>`, stopping at the first error.
func Script(ctx context.Context, ns string, lines ...string) error {
	for _, l := range lines {
		if _, err := IP(ctx, append([]string{"-n", ns}, strings.Fields(l)...)...); err != nil {
			return err
		}
	}
	return nil
}

// Add creates the named namespace with its loopback up. An existing one is an error: the lab
// removes its namespaces before making them again.
func Add(ctx context.Context, ns string) error {
	if _, err := IP(ctx, "netns", "add", ns); err != nil {
		return err
	}
	return Script(ctx, ns, "link set lo up")
}

// Delete kills every process in ns and removes it (with every interface and nftables table in
// it). A missing namespace is not an error.
func Delete(ctx context.Context, ns string) error {
	if !Exists(ns) {
		return nil
	}
	KillAll(ctx, ns)
	if _, err := IP(ctx, "netns", "del", ns); err != nil && Exists(ns) {
		return err
	}
	return nil
}

// KillAll sends SIGKILL to every process whose network namespace is ns.
func KillAll(ctx context.Context, ns string) {
	out, err := IP(ctx, "netns", "pids", ns)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(out) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// Exists reports whether the named namespace exists.
func Exists(ns string) bool {
	_, err := os.Stat(filepath.Join(runDir, ns))
	return err == nil
}

// List returns the names of the namespaces that start with prefix, sorted.
func List(prefix string) []string {
	entries, _ := os.ReadDir(runDir)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// Command returns a command running name with args inside ns through `ip netns exec`, which also
// bind-mounts the files of /etc/netns/<ns>/ over /etc (the Pods' resolv.conf).
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Enter returns argv prefixed to run inside ns's network namespace only (nsenter --net), in the
// caller's mount namespace. Unlike `ip netns exec`, which gives its command a mount namespace of
// its own, namespaces this command makes with `ip netns add` are then visible to everyone:
// the lab's own components need that; Pods, which need the resolv.conf mount, use Command.
func Enter(ns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + filepath.Join(runDir, ns), "--"}, argv...)
}

// ErrNoNamespace is returned by Dial for a namespace that does not exist.
var ErrNoNamespace = errors.New("no such network namespace")

// Dialer returns a DialContext that opens its sockets inside ns. The calling process stays where
// it is: the dial runs on a locked OS thread switched into ns and back, and a socket belongs for
// life to the namespace it was made in.
func Dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := Do(ns, func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// Do runs f on an OS thread switched into ns. f must not start goroutines that open sockets:
// they would run on other threads, in the caller's namespace.
func Do(ns string, f func() error) error {
	target, err := os.Open(filepath.Join(runDir, ns))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoNamespace, ns, err)
	}
	defer func() { _ = target.Close() }()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() { _ = self.Close() }()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in ns: leave it locked so that the runtime ends it with the
		// goroutine instead of reusing it.
		return errors.Join(ferr, fmt.Errorf("return from network namespace %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
}
