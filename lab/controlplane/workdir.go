package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	workDirPrefix = "frontdesk-cluster-"
	// ownerFile holds the pid of the test binary that owns a work dir.
	ownerFile = ".owner-pid"
)

// newWorkDir creates the cluster's working directory and records which
// process owns it.
func newWorkDir() (string, error) {
	sweepStaleWorkDirs(os.TempDir())
	dir, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// sweepStaleWorkDirs removes work dirs whose owner has exited. Cleanups never
// run when go test's -timeout ends the process or it is killed; the
// components die with it (see sysProcAttr), but their directories, etcd's data
// among them, would pile up in the temp dir. Only directories carrying an
// owner file are touched, so the log directories a failed test kept stay.
func sweepStaleWorkDirs(tmp string) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return // no way to tell a live owner from a dead one
	}
	matches, _ := filepath.Glob(filepath.Join(tmp, workDirPrefix+"*", ownerFile))
	for _, f := range matches {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processExists(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Dir(f))
	}
}

// processExists reports whether pid is a live process. A reused pid makes a
// dead owner look alive; the directory then waits for a later sweep.
func processExists(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true // cannot tell: keep the directory
	}
	// A zombie has exited; the state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
