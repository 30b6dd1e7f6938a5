package build

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/frontdesk-lb/frontdesk/hack/images/oci"
)

// Source is where some files of a layer come from.
type Source interface {
	entries(ctx context.Context, r *run) ([]oci.Entry, error)
	String() string
}

// Go builds a Go package of the repository statically (CGO_ENABLED=0, -trimpath, the version
// -ldflags) for the target architecture and puts the binary at dest. dir is the module's folder
// relative to the repository ("" for the product's own module, hack/tools for GoBGP).
func Go(dir, pkg, dest string) Source { return goSource{dir: dir, pkg: pkg, dest: dest} }

type goSource struct{ dir, pkg, dest string }

func (s goSource) String() string { return "go build " + s.pkg }

func (s goSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	tmp, err := os.MkdirTemp("", "frontdesk-images-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	out := filepath.Join(tmp, path.Base(s.dest))
	ldflags := strings.TrimSpace("-s -w " + r.cfg.GoLDFlags)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags="+ldflags, "-o", out, s.pkg)
	cmd.Dir = filepath.Join(r.cfg.Repo, s.dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+r.cfg.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w: %s", s.pkg, err, strings.TrimSpace(string(b)))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return []oci.Entry{oci.File(s.dest, 0o755, data)}, nil
}

// K8sBinary takes a binary from the cache of pinned Kubernetes builds (hack/k8s/build.sh),
// building what is missing there first.
func K8sBinary(name, dest string) Source { return k8sSource{name: name, dest: dest} }

type k8sSource struct{ name, dest string }

func (s k8sSource) String() string { return s.name + " from hack/k8s/build.sh's cache" }

func (s k8sSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	dir, err := r.k8sBinDir(ctx)
	if err != nil {
		return nil, err
	}
	return fileEntry(filepath.Join(dir, s.name), s.dest)
}

// File takes a binary whose path is given by an environment variable (or --file NAME=PATH), such
// as a CoreDNS built elsewhere. With no path given, the image is skipped.
func File(variable, dest string) Source { return fileSource{variable: variable, dest: dest} }

type fileSource struct{ variable, dest string }

func (s fileSource) String() string { return "$" + s.variable }

func (s fileSource) entries(_ context.Context, r *run) ([]oci.Entry, error) {
	p := r.lookup(s.variable)
	if p == "" {
		return nil, skipError{reason: fmt.Sprintf("no binary for %s: set %s=/path/to/it (make images %s=...)", s.dest, s.variable, s.variable)}
	}
	return fileEntry(p, s.dest)
}

func fileEntry(host, dest string) ([]oci.Entry, error) {
	data, err := os.ReadFile(host)
	if err != nil {
		return nil, err
	}
	return []oci.Entry{oci.File(dest, 0o755, data)}, nil
}

// Debian takes files from Debian packages, with every shared library and the dynamic loader they
// need, found in the same packages (so the list must name the libraries' packages too; the build
// fails naming any library missing). Symbolic links are kept and followed.
func Debian(packages []string, paths ...string) Source {
	return debSource{packages: packages, paths: paths}
}

type debSource struct{ packages, paths []string }

func (s debSource) String() string {
	return strings.Join(s.paths, " ") + " from Debian " + strings.Join(s.packages, " ")
}

func (s debSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	roots, err := r.unpack(ctx, s.packages...)
	if err != nil {
		return nil, err
	}
	t, err := newTree(roots, r.cfg.Arch)
	if err != nil {
		return nil, err
	}
	for _, p := range s.paths {
		if err := t.take(p); err != nil {
			return nil, err
		}
	}
	// Each package's copyright file goes with its files: most are GPL or LGPL.
	for i, pkg := range s.packages {
		p := "/usr/share/doc/" + pkg + "/copyright"
		host := filepath.Join(roots[i], filepath.FromSlash(p))
		if fi, err := os.Lstat(host); err == nil && fi.Mode().IsRegular() {
			data, err := os.ReadFile(host)
			if err != nil {
				return nil, err
			}
			t.out = append(t.out, oci.File(p, 0o644, data))
		}
	}
	return t.out, nil
}

// BusyboxApplets makes a symbolic link to /bin/busybox for each applet the package's busybox
// lists (its --list-full), /bin/sh among them. It runs that busybox, so it works only when the
// target architecture runs here.
func BusyboxApplets(pkg string) Source { return appletSource{pkg: pkg} }

type appletSource struct{ pkg string }

func (s appletSource) String() string { return "busybox applet links" }

func (s appletSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	roots, err := r.unpack(ctx, s.pkg)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(roots[0], "bin", "busybox"), "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox's applets (GOARCH %s must run here): %w", r.cfg.Arch, err)
	}
	var es []oci.Entry
	for _, l := range strings.Fields(string(out)) {
		if p := "/" + l; p != "/bin/busybox" {
			es = append(es, oci.Symlink(p, "/bin/busybox"))
		}
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("busybox --list-full listed no applets")
	}
	return es, nil
}

// CACertificates makes /etc/ssl/certs/ca-certificates.crt from Debian's ca-certificates package,
// as its update-ca-certificates does with the default selection (every certificate it ships,
// in name order). Go's crypto/x509 reads that file.
func CACertificates() Source { return caSource{} }

type caSource struct{}

func (caSource) String() string { return "CA bundle from Debian ca-certificates" }

func (caSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	roots, err := r.unpack(ctx, "ca-certificates")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(roots[0], "usr", "share", "ca-certificates")
	var certs []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".crt") {
			certs = append(certs, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(certs)
	var bundle bytes.Buffer
	for _, c := range certs {
		b, err := os.ReadFile(c)
		if err != nil {
			return nil, err
		}
		bundle.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			bundle.WriteByte('\n')
		}
	}
	if len(certs) < 10 {
		return nil, fmt.Errorf("ca-certificates: only %d certificates under %s", len(certs), dir)
	}
	return []oci.Entry{oci.File("/etc/ssl/certs/ca-certificates.crt", 0o644, bundle.Bytes())}, nil
}

// User is an account of /etc/passwd and /etc/group.
type User struct {
	Name string
	ID   int
	Home string
}

// Accounts writes /etc/passwd and /etc/group with root and the given users (one group each, of
// the same id and name), and their home folders, owned by them.
func Accounts(users ...User) Source { return accountSource{users: users} }

type accountSource struct{ users []User }

func (s accountSource) String() string { return "/etc/passwd, /etc/group" }

func (s accountSource) entries(context.Context, *run) ([]oci.Entry, error) {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n"
	group := "root:x:0:\n"
	es := []oci.Entry{oci.Dir("/root", 0o700)}
	for _, u := range s.users {
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin\n", u.Name, u.ID, u.ID, u.Name, u.Home)
		group += fmt.Sprintf("%s:x:%d:\n", u.Name, u.ID)
		es = append(es, oci.Entry{Path: u.Home, Mode: fs.ModeDir | 0o700, UID: u.ID, GID: u.ID})
	}
	return append(es, oci.File("/etc/passwd", 0o644, []byte(passwd)), oci.File("/etc/group", 0o644, []byte(group))), nil
}

// Dirs makes empty directories; /tmp gets the sticky bit and mode 1777.
func Dirs(paths ...string) Source { return dirSource{paths: paths} }

type dirSource struct{ paths []string }

func (s dirSource) String() string { return "folders " + strings.Join(s.paths, " ") }

func (s dirSource) entries(context.Context, *run) ([]oci.Entry, error) {
	var es []oci.Entry
	for _, p := range s.paths {
		e := oci.Dir(p, 0o755)
		if p == "/tmp" || p == "/var/tmp" {
			e.Mode |= fs.ModeSticky | 0o777
		}
		es = append(es, e)
	}
	return es, nil
}

// skipError says an image cannot be built here and why, without failing the others.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

// Symlink makes one symbolic link.
func Symlink(p, target string) Source { return linkSource{path: p, target: target} }

type linkSource struct{ path, target string }

func (s linkSource) String() string { return "link " + s.path + " -> " + s.target }

func (s linkSource) entries(context.Context, *run) ([]oci.Entry, error) {
	return []oci.Entry{oci.Symlink(s.path, s.target)}, nil
}

// Text writes one file of the given content (mode 0644), such as a configuration file.
func Text(p, content string) Source { return textSource{path: p, content: content} }

type textSource struct{ path, content string }

func (s textSource) String() string { return "file " + s.path }

func (s textSource) entries(context.Context, *run) ([]oci.Entry, error) {
	return []oci.Entry{oci.File(s.path, 0o644, []byte(s.content))}, nil
}

// ModuleData takes a file of a module that the module in dir requires (mod), such as porter's
// test certificate of the pinned Kubernetes, and puts it at dest with mode 0644.
func ModuleData(dir, mod, file, dest string) Source {
	return moduleDataSource{dir: dir, mod: mod, file: file, dest: dest}
}

type moduleDataSource struct{ dir, mod, file, dest string }

func (s moduleDataSource) String() string { return s.mod + "/" + s.file }

func (s moduleDataSource) entries(ctx context.Context, r *run) ([]oci.Entry, error) {
	m, err := r.module(ctx, s.dir, s.mod)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(m.Dir, filepath.FromSlash(s.file)))
	if err != nil {
		return nil, err
	}
	return []oci.Entry{oci.File(s.dest, 0o644, data)}, nil
}
