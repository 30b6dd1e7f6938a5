package testkit

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// TestKubeletSecret: each version replaces the last through ..data, a key dropped loses its
// file, and the file of a key kept is the same link throughout.
func TestKubeletSecret(t *testing.T) {
	s := NewKubeletSecret(t, map[string]string{"key": "one", "accept": "two"})
	read := func(name string) (string, error) {
		b, err := os.ReadFile(s.Path(name))
		return string(b), err
	}
	if got, err := read("accept"); err != nil || got != "two" {
		t.Fatalf("accept: %q, %v; want two", got, err)
	}
	link, err := os.Readlink(s.Path("key"))
	if err != nil {
		t.Fatalf("key is not a symlink: %v", err)
	}
	s.Write(map[string]string{"key": "three"})
	if got, err := read("key"); err != nil || got != "three" {
		t.Errorf("key after the second version: %q, %v; want three", got, err)
	}
	if again, _ := os.Readlink(s.Path("key")); again != link {
		t.Errorf("key's link changed from %q to %q: the kubelet keeps it, only ..data moves", link, again)
	}
	if _, err := read("accept"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("accept after a version without it: %v, want it gone", err)
	}
}
