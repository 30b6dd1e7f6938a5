// Package oci turns lists of files into OCI images and writes them as OCI image-layout archives
// that `ctr images import`, `podman load` and `docker load` read. It is the only package that
// imports go-containerregistry.
//
// Everything it writes is a function of its input: entries are sorted, every timestamp is the
// image's Created time, owners are numeric with no names, and layers are gzipped by the standard
// library with a fixed level and an empty gzip header. Two builds of the same input give the same
// digests (with the same Go version: compress/gzip's output is stable within a release).
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file, directory or symbolic link of a layer.
type Entry struct {
	// Path is absolute inside the image, such as /usr/sbin/nft.
	Path string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink; neither means a regular file.
	Mode fs.FileMode
	UID  int
	GID  int
	// Data is a regular file's content.
	Data []byte
	// Link is a symbolic link's target.
	Link string
}

// File, Dir and Symlink make entries owned by root.
func File(p string, mode fs.FileMode, data []byte) Entry {
	return Entry{Path: p, Mode: mode.Perm(), Data: data}
}

// Dir makes a directory entry owned by root.
func Dir(p string, mode fs.FileMode) Entry { return Entry{Path: p, Mode: fs.ModeDir | mode.Perm()} }

// Symlink makes a symbolic link owned by root.
func Symlink(p, target string) Entry {
	return Entry{Path: p, Mode: fs.ModeSymlink | 0o777, Link: target}
}

// Layer is one layer of an image.
type Layer struct {
	// Comment goes into the image's history (created_by): where the files came from.
	Comment string
	Entries []Entry
}

// implicitDirMode is the mode of the parent directories a layer adds for its entries.
const implicitDirMode = fs.ModeDir | 0o755

// tarLayer writes the layer as an uncompressed tar: sorted by path, parents before children,
// every parent directory present, every time set to mtime.
func tarLayer(l Layer, mtime time.Time) ([]byte, error) {
	byPath := map[string]Entry{}
	for _, e := range l.Entries {
		p := path.Clean("/" + e.Path)
		if p == "/" {
			return nil, fmt.Errorf("layer %q: an entry has no path", l.Comment)
		}
		e.Path = p
		if old, ok := byPath[p]; ok && !sameEntry(old, e) {
			return nil, fmt.Errorf("layer %q: two different entries for %s", l.Comment, p)
		}
		byPath[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = Entry{Path: d, Mode: implicitDirMode}
			}
		}
	}
	for p, e := range byPath {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if !byPath[d].Mode.IsDir() {
				return nil, fmt.Errorf("layer %q: %s is under %s, which is not a directory", l.Comment, p, d)
			}
		}
		if e.Mode.Type() != 0 && !e.Mode.IsDir() && e.Mode.Type() != fs.ModeSymlink {
			return nil, fmt.Errorf("layer %q: %s: only files, directories and symbolic links are supported", l.Comment, p)
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	// Sorting by path puts a directory before its contents ("/a" < "/a/b").
	slices.Sort(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := byPath[p]
		h := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    int64(e.Mode.Perm()),
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		switch {
		case e.Mode.IsDir():
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case e.Mode.Type() == fs.ModeSymlink:
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.Link
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		h.Mode |= specialBits(e.Mode)
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %q: %s: %w", l.Comment, p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// specialBits maps Go's setuid, setgid and sticky bits to tar's.
func specialBits(m fs.FileMode) int64 {
	var b int64
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

func sameEntry(a, b Entry) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Link == b.Link && bytes.Equal(a.Data, b.Data)
}

// gzipBytes compresses with a fixed level and an empty header (no name, no time), so the output
// depends on the input only.
func gzipBytes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// buildLayer makes the go-containerregistry layer of l: an OCI gzip layer whose compressed bytes
// are ours (go-containerregistry would otherwise compress it itself, with settings of its own).
func buildLayer(l Layer, mtime time.Time) (v1.Layer, error) {
	raw, err := tarLayer(l, mtime)
	if err != nil {
		return nil, err
	}
	gz, err := gzipBytes(raw)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
