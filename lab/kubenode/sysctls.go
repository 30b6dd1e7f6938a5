package kubenode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// KubeletSysctls are the kernel settings every kubelet sets when it starts (the container
// manager's kernel tunables; with protectKernelDefaults it refuses to start instead). None of them
// is per network namespace: a lab's kubelets change them for the whole machine, so the lab saves
// them before its first kubelet starts and down puts them back.
var KubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// procSys is where sysctls are read and written; a variable for tests.
var procSys = "/proc/sys"

// SaveSysctls records the current values of KubeletSysctls in path, unless path exists already
// (a supervisor restarted on a running lab must not record its own kubelets' values).
func SaveSysctls(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	values := map[string]string{}
	for _, k := range KubeletSysctls {
		b, err := os.ReadFile(filepath.Join(procSys, k))
		if err != nil {
			return fmt.Errorf("reading %s: %w", k, err)
		}
		values[k] = strings.TrimSpace(string(b))
	}
	b, err := json.MarshalIndent(values, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// RestoreSysctls writes back the values SaveSysctls recorded in path; no file is nothing to do.
// Only KubeletSysctls are written, whatever the file holds.
func RestoreSysctls(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var values map[string]string
	if err := json.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	for k, v := range values {
		if !slices.Contains(KubeletSysctls, k) {
			continue
		}
		if err := os.WriteFile(filepath.Join(procSys, k), []byte(v+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s=%s: %w", k, v, err))
		}
	}
	return errors.Join(errs...)
}
