package kubenode

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupMounts returns the mount points of the machine's cgroup hierarchies: one per v1
// controller set (cpu,cpuacct is one) and the v2 one (/sys/fs/cgroup/unified on this hybrid
// machine).
func cgroupMounts() ([]string, error) {
	mounts, err := mountPoints(func(fstype string) bool { return fstype == "cgroup" || fstype == "cgroup2" })
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return mounts, nil
}

// CreateCgroupRoot makes root (Node.CgroupRoot) in every cgroup hierarchy: the kubelet refuses a
// cgroupRoot missing from any v1 controller it uses. cpuset needs cpuset.cpus and cpuset.mems
// set before a process can join, so they are copied from the parent.
func CreateCgroupRoot(root string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		dir := filepath.Join(m, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup root %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
			if err != nil {
				continue // not the cpuset hierarchy
			}
			if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
				return fmt.Errorf("cgroup root %s: %s: %w", dir, f, err)
			}
		}
	}
	return nil
}

// CgroupsOf returns the top cgroups named prefix* in every hierarchy (the cgroup roots of a lab's
// nodes are /<lab>-<node>).
func CgroupsOf(prefix string) []string {
	mounts, _ := cgroupMounts()
	var out []string
	for _, m := range mounts {
		dirs, _ := filepath.Glob(filepath.Join(m, prefix+"*"))
		out = append(out, dirs...)
	}
	return out
}

// RemoveCgroups kills every process in the cgroups named prefix* (CgroupsOf) and below, then
// removes them, deepest first (a cgroup with children or processes cannot be removed).
func RemoveCgroups(prefix string) error {
	var dirs []string
	for _, top := range CgroupsOf(prefix) {
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	if len(dirs) == 0 {
		return nil
	}
	// Deepest first; processes that fork while being killed are caught by the next round.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, d := range dirs {
			for _, pid := range cgroupPids(d) {
				alive++
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var errs []error
	for _, d := range dirs {
		var err error
		for range 50 { // a killed process leaves its cgroup a moment after the signal
			if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w (pids %v)", d, err, cgroupPids(d)))
		}
	}
	return errors.Join(errs...)
}

func cgroupPids(dir string) []int {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}
