package build

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// debian fetches Debian packages with `apt-get download` and unpacks them with `dpkg-deb -x`, both
// into a cache (<cache>/debs/<arch>/), so a package is downloaded and unpacked once per version.
//
// Versions come from a lock file (package version per line) when the archive still serves them:
// the same files then go into every build, on every machine. Debian replaces a version when it
// publishes an update, so a locked version that is gone falls back to the candidate with a
// warning, and --write-lock records the new one. Every image records the versions it holds in
// a label.
type debian struct {
	cache string // <cache>/debs/<arch>
	arch  string // Debian architecture: GOARCH for amd64 and arm64
	lock  map[string]string
	log   io.Writer

	mu   sync.Mutex
	used map[string]string // package → version taken, for --write-lock and the report
	dirs map[string]string // package → unpacked tree
}

func newDebian(cache, arch string, lock map[string]string, log io.Writer) *debian {
	return &debian{cache: filepath.Join(cache, "debs", arch), arch: arch, lock: lock, log: log,
		used: map[string]string{}, dirs: map[string]string{}}
}

// readLock reads "package version" lines; # starts a comment.
func readLock(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	lock := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"package version\", got %q", path, n, line)
		}
		lock[f[0]] = f[1]
	}
	return lock, sc.Err()
}

// writeLock writes the versions used, sorted by package.
func writeLock(path string, used map[string]string) error {
	var b strings.Builder
	b.WriteString("# Debian bookworm packages in the images (hack/images; make images-lock rewrites this file).\n")
	for _, p := range slices.Sorted(maps.Keys(used)) {
		fmt.Fprintf(&b, "%s %s\n", p, used[p])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// unpack returns the unpacked tree of pkg and its version, fetching and unpacking it if needed.
func (d *debian) unpack(ctx context.Context, pkg string) (dir, version string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dir, ok := d.dirs[pkg]; ok {
		return dir, d.used[pkg], nil
	}
	version, err = d.version(ctx, pkg)
	if err != nil {
		return "", "", err
	}
	// An epoch's colon is not welcome in file names; apt-get writes it as %3a.
	base := pkg + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + d.arch
	dir = filepath.Join(d.cache, base)
	if _, err := os.Stat(dir); err != nil {
		if err := d.fetch(ctx, pkg, version, base, dir); err != nil {
			return "", "", err
		}
	}
	d.dirs[pkg], d.used[pkg] = dir, version
	return dir, version, nil
}

// version picks the locked version if the archive serves it, else the candidate.
func (d *debian) version(ctx context.Context, pkg string) (string, error) {
	if v, ok := d.lock[pkg]; ok {
		if out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg+":"+d.arch+"="+v).Output(); err == nil && len(out) > 0 {
			return v, nil
		}
		_, _ = fmt.Fprintf(d.log, "  warning: %s %s (locked) is no longer served; taking the candidate (make images-lock records it)\n", pkg, v)
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg+":"+d.arch).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache show %s: %w (is the package name right? run apt-get update once)", pkg, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("apt-cache show %s: no Version field", pkg)
}

// fetch downloads pkg=version and unpacks it into dir (through a temporary folder renamed at the
// end, so an interrupted run leaves no half tree behind).
func (d *debian) fetch(ctx context.Context, pkg, version, base, dir string) error {
	if err := os.MkdirAll(d.cache, 0o755); err != nil {
		return err
	}
	deb := filepath.Join(d.cache, base+".deb")
	if _, err := os.Stat(deb); err != nil {
		_, _ = fmt.Fprintf(d.log, "  apt-get download %s=%s\n", pkg, version)
		tmp, err := os.MkdirTemp(d.cache, ".download-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		// apt-get download runs as the unprivileged _apt user where it can; a private folder it
		// cannot write only makes it warn, so the warning is dropped.
		cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg+":"+d.arch+"="+version)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get download %s=%s: %w: %s", pkg, version, err, strings.TrimSpace(string(out)))
		}
		got, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
		if err != nil || len(got) != 1 {
			return fmt.Errorf("apt-get download %s=%s: want one .deb, got %v", pkg, version, got)
		}
		if err := os.Rename(got[0], deb); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(d.cache, ".unpack-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, strings.TrimSpace(string(out)))
	}
	return os.Rename(tmp, dir)
}
