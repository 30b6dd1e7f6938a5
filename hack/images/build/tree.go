package build

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/frontdesk-lb/frontdesk/hack/images/oci"
)

// tree is a set of unpacked package trees read as one root filesystem: an image path is looked up
// in each in turn. Files taken from it keep their mode; owners become root.
type tree struct {
	roots   []string
	triplet string // multiarch folder name, x86_64-linux-gnu
	taken   map[string]bool
	out     []oci.Entry
}

func newTree(roots []string, goarch string) (*tree, error) {
	t, err := triplet(goarch)
	if err != nil {
		return nil, err
	}
	return &tree{roots: roots, triplet: t, taken: map[string]bool{}}, nil
}

// triplet is Debian's multiarch name of a GOARCH, the folder its shared libraries live in.
func triplet(goarch string) (string, error) {
	switch goarch {
	case "amd64":
		return "x86_64-linux-gnu", nil
	case "arm64":
		return "aarch64-linux-gnu", nil
	case "arm":
		return "arm-linux-gnueabihf", nil
	case "ppc64le":
		return "powerpc64le-linux-gnu", nil
	case "s390x":
		return "s390x-linux-gnu", nil
	}
	return "", fmt.Errorf("no Debian multiarch name known for GOARCH %s", goarch)
}

// find returns the host path of an image path, from the first tree holding it.
func (t *tree) find(p string) (string, fs.FileInfo, bool) {
	for _, r := range t.roots {
		host := filepath.Join(r, filepath.FromSlash(p))
		if fi, err := os.Lstat(host); err == nil {
			return host, fi, true
		}
	}
	return "", nil, false
}

// take adds an image path: a file, or a symbolic link and what it points to.
func (t *tree) take(p string) error {
	for hops := 0; hops < 16; hops++ {
		p = path.Clean(p)
		if t.taken[p] {
			return nil
		}
		host, fi, ok := t.find(p)
		if !ok {
			return fmt.Errorf("%s: in none of the packages %s", p, t.names())
		}
		t.taken[p] = true
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return err
			}
			t.out = append(t.out, oci.Symlink(p, target))
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = target
			continue
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(host)
			if err != nil {
				return err
			}
			t.out = append(t.out, oci.Entry{Path: p, Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Data: data})
			return t.libraries(p, data)
		default:
			return fmt.Errorf("%s: only files and symbolic links are taken, not %s", p, fi.Mode().Type())
		}
	}
	return fmt.Errorf("%s: too many symbolic links", p)
}

// libraries takes what an ELF executable or library needs to load: its interpreter (the dynamic
// loader) and its DT_NEEDED libraries, recursively, from the standard library folders. A static
// binary needs nothing. Every needed library must be found: an image missing one would fail only
// when the binary runs.
func (t *tree) libraries(p string, data []byte) error {
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return nil
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return fmt.Errorf("%s: reading its interpreter: %w", p, err)
		}
		if err := t.take(strings.TrimRight(string(b), "\x00")); err != nil {
			return fmt.Errorf("%s's loader: %w", p, err)
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, lib := range needed {
		found := false
		for _, dir := range []string{"/lib/" + t.triplet, "/usr/lib/" + t.triplet, "/lib", "/usr/lib"} {
			if _, _, ok := t.find(path.Join(dir, lib)); ok {
				if err := t.take(path.Join(dir, lib)); err != nil {
					return err
				}
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s needs %s, which none of the packages %s holds: add its package", p, lib, t.names())
		}
	}
	return nil
}

func (t *tree) names() string {
	var n []string
	for _, r := range t.roots {
		n = append(n, filepath.Base(r))
	}
	return strings.Join(n, ", ")
}
