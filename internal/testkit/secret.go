package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KubeletSecret is a directory written the way the kubelet updates a mounted Secret: each
// version in a new hidden directory, ..data a symlink to it swapped by rename, each key a
// symlink through ..data, kept for the keys present and removed for the others. The files a
// reader opens never change in place, which is what a reader of a mounted Secret must cope with.
type KubeletSecret struct {
	t   testing.TB
	dir string
	n   int
}

// NewKubeletSecret makes the directory, in t.TempDir(), with data (key → content) as its first
// version.
func NewKubeletSecret(t testing.TB, data map[string]string) *KubeletSecret {
	s := &KubeletSecret{t: t, dir: t.TempDir()}
	s.Write(data)
	return s
}

// Path is the file of a key, as the Secret's volume mount shows it.
func (s *KubeletSecret) Path(key string) string { return filepath.Join(s.dir, key) }

// Write makes data the Secret's next version.
func (s *KubeletSecret) Write(data map[string]string) {
	s.t.Helper()
	s.n++
	version := fmt.Sprintf("..v%d", s.n)
	if err := os.Mkdir(filepath.Join(s.dir, version), 0o755); err != nil {
		s.t.Fatal(err)
	}
	for name, v := range data {
		if err := os.WriteFile(filepath.Join(s.dir, version, name), []byte(v), 0o400); err != nil {
			s.t.Fatal(err)
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
	// As the kubelet does after the swap: a link for every key now present, none for the others.
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, en := range entries {
		if _, keep := data[en.Name()]; !keep && !strings.HasPrefix(en.Name(), "..") {
			if err := os.Remove(filepath.Join(s.dir, en.Name())); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	for name := range data {
		link := s.Path(name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			s.t.Fatal(err)
		}
	}
}
