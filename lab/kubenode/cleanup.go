package kubenode

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// CNIResultsDir is where libcni (in containerd) caches each Pod's network result: a machine-wide
// path that containerd offers no setting for. Files are named <network>-<container>-<interface>.
const CNIResultsDir = "/var/lib/cni/results"

// ContainerLogLinks is where every kubelet links each container's log file, whatever its
// podLogsDir (a path built into the kubelet).
const ContainerLogLinks = "/var/log/containers"

// shimSocketDir holds containerd's shim sockets, a path built into containerd; each shim's
// address is also recorded under the state folder (shimAddresses).
const shimSocketDir = "/run/containerd/s"

// Cleanup removes what a lab's nodes leave on the machine once their processes are gone
// (RemoveCgroups first): the shims' sockets, every mount under labDir (Pod volumes, sandbox
// network namespaces, the kubelet's own bind mount; deepest first), the cached CNI results and
// container log links of the lab's nodes. It works from names and paths alone, after a crash
// too. labDir itself is the caller's to remove.
func Cleanup(lab, labDir string) error {
	var errs []error
	for _, sock := range shimAddresses(labDir) {
		if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, UnmountUnder(labDir))
	for _, f := range CNIResults(lab, labDir) {
		errs = append(errs, os.Remove(f))
	}
	errs = append(errs, removeLinksInto(ContainerLogLinks, labDir))
	return errors.Join(errs...)
}

// CNIResults are the results libcni cached for the Pods of a lab's nodes: those of their bridge
// network (named <lab>-node<k>) and of the loopback network go-cni adds to every Pod
// (cni-loopback-<sandbox>-lo), whose network namespace is under the lab's directory.
func CNIResults(lab, labDir string) []string {
	entries, _ := os.ReadDir(CNIResultsDir)
	var out []string
	for _, e := range entries {
		p := filepath.Join(CNIResultsDir, e.Name())
		if strings.HasPrefix(e.Name(), lab+"-node") {
			out = append(out, p)
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var cached struct {
			Netns string `json:"netns"`
		}
		if json.Unmarshal(raw, &cached) == nil && strings.HasPrefix(cached.Netns, filepath.Clean(labDir)+"/") {
			out = append(out, p)
		}
	}
	return out
}

// shimAddresses are the sockets of the shims that the lab's containerds started, from the
// bundles in their state folders: bootstrap.json ({"address": "unix:///run/containerd/s/<hash>"},
// containerd 2.4) or an address file (older shims).
func shimAddresses(labDir string) []string {
	// The nodes' containerds and the router's (lab/router).
	bundles, _ := filepath.Glob(filepath.Join(labDir, "nodes", "*", "containerd", "state",
		"io.containerd.runtime.v2.task", "*", "*"))
	routers, _ := filepath.Glob(filepath.Join(labDir, "router", "containerd", "state",
		"io.containerd.runtime.v2.task", "*", "*"))
	bundles = append(bundles, routers...)
	var out []string
	for _, b := range bundles {
		var addr string
		if raw, err := os.ReadFile(filepath.Join(b, "bootstrap.json")); err == nil {
			var boot struct {
				Address string `json:"address"`
			}
			if json.Unmarshal(raw, &boot) == nil {
				addr = boot.Address
			}
		} else if raw, err := os.ReadFile(filepath.Join(b, "address")); err == nil {
			addr = strings.TrimSpace(string(raw))
		}
		sock := strings.TrimPrefix(addr, "unix://")
		if sock != "" && filepath.Dir(sock) == shimSocketDir {
			out = append(out, sock)
		}
	}
	return out
}

// UnmountUnder unmounts every mount at or below dir, deepest first, until none is left (mounts
// can be stacked on one path).
func UnmountUnder(dir string) error {
	dir = filepath.Clean(dir)
	for range 10 {
		mounts, err := MountsUnder(dir)
		if err != nil || len(mounts) == 0 {
			return err
		}
		for _, m := range mounts {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	left, _ := MountsUnder(dir)
	if len(left) > 0 {
		return fmt.Errorf("mounts left under %s: %s", dir, strings.Join(left, ", "))
	}
	return nil
}

// MountsUnder lists the mount points at or below dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	all, err := mountPoints(func(string) bool { return true })
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range all {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out, nil
}

// mountPoints returns the mount points of /proc/self/mountinfo whose filesystem type keep
// accepts, in the file's order.
func mountPoints(keep func(fstype string) bool) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) || !keep(fields[sep+1]) {
			continue
		}
		out = append(out, unescapeMount(fields[4]))
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeLinksInto removes the symbolic links in dir that point below target.
func removeLinksInto(dir, target string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no kubelet ever ran here
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		dest, err := os.Readlink(p)
		if err == nil && strings.HasPrefix(dest, filepath.Clean(target)+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}
