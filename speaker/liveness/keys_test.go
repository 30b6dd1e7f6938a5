package liveness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2"
)

// secretDir writes files the way the kubelet updates a mounted Secret: each version in a new
// timestamped directory, ..data a symlink to it swapped by rename, and each key a symlink through
// ..data. The files a reader opens never change in place.
type secretDir struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretDir(t *testing.T, data map[string]string) *secretDir {
	s := &secretDir{t: t, dir: t.TempDir()}
	s.write(data)
	for name := range data {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *secretDir) write(data map[string]string) {
	s.n++
	ts := fmt.Sprintf("..2026_12_07_11_00_%02d.%d", s.n, s.n)
	if err := os.Mkdir(filepath.Join(s.dir, ts), 0o755); err != nil {
		s.t.Fatal(err)
	}
	for name, v := range data {
		if err := os.WriteFile(filepath.Join(s.dir, ts, name), []byte(v), 0o400); err != nil {
			s.t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(s.dir, name)); os.IsNotExist(err) && s.n > 1 {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}

func (s *secretDir) path(name string) string { return filepath.Join(s.dir, name) }

type keyRecorder struct {
	mu  sync.Mutex
	got [][]string // each SetKeys: key, then the accepted ones
	err error
}

func (r *keyRecorder) SetKeys(key []byte, accept [][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	call := []string{string(key)}
	for _, a := range accept {
		call = append(call, string(a))
	}
	r.got = append(r.got, call)
	return r.err
}

func (r *keyRecorder) calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.got...)
}

const (
	oldKey = "old-key-0123456789abcdef"
	newK   = "new-key-0123456789abcdef"
)

// TestWatchKeysFollowsTheSecret rotates a Secret the way docs/chart.md says, each step written as
// the kubelet writes it, and checks that the watcher hands each step's keys over once, and
// keeps the keys it has when a step is unusable.
func TestWatchKeysFollowsTheSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSecretDir(t, map[string]string{"key": oldKey})
		files := KeyFiles{Key: s.path("key"), Accept: s.path("accept")}
		key, accept, err := files.Read()
		if err != nil || string(key) != oldKey || accept != nil {
			t.Fatalf("Read: %q %q %v, want the old key alone", key, accept, err)
		}
		rec := &keyRecorder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			WatchKeys(ctx, rec, files, [][]byte{key}, time.Second, klog.Background())
		}()
		step := func(data map[string]string) {
			s.write(data)
			time.Sleep(time.Second + time.Millisecond) // the bubble's clock: one poll
			synctest.Wait()
		}
		time.Sleep(3 * time.Second) // nothing changed: nothing handed over
		synctest.Wait()

		step(map[string]string{"key": oldKey, "accept": newK})  // 1: accept the new key
		step(map[string]string{"key": newK, "accept": oldKey})  // 2: sign with it
		step(map[string]string{"key": newK, "accept": "short"}) // unusable: kept
		step(map[string]string{"key": newK})                    // 3: drop the old one
		time.Sleep(3 * time.Second)
		synctest.Wait()
		cancel()
		<-done

		want := [][]string{{oldKey, newK}, {newK, oldKey}, {newK}}
		if diff := cmp.Diff(want, rec.calls()); diff != "" {
			t.Errorf("keys handed over (-want +got):\n%s", diff)
		}
	})
}

func TestKeyFilesRead(t *testing.T) {
	s := newSecretDir(t, map[string]string{"key": oldKey, "empty": "", "short": "x"})
	for _, tt := range []struct {
		name    string
		files   KeyFiles
		wantErr bool
		accept  int
	}{
		{"no accept file named", KeyFiles{Key: s.path("key")}, false, 0},
		{"accept file missing", KeyFiles{Key: s.path("key"), Accept: s.path("nothing")}, false, 0},
		{"accept file empty", KeyFiles{Key: s.path("key"), Accept: s.path("empty")}, false, 0},
		{"accept key", KeyFiles{Key: s.path("key"), Accept: s.path("key")}, false, 1},
		{"accept key short", KeyFiles{Key: s.path("key"), Accept: s.path("short")}, true, 0},
		{"key missing", KeyFiles{Key: s.path("nothing")}, true, 0},
		{"key short", KeyFiles{Key: s.path("short")}, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, accept, err := tt.files.Read()
			if (err != nil) != tt.wantErr || len(accept) != tt.accept {
				t.Errorf("Read: %d accepted, err %v; want %d, error %v", len(accept), err, tt.accept, tt.wantErr)
			}
		})
	}
}

// TestSetKeysRotatesARunningGroup: three running speakers go through the rotation's steps one
// speaker at a time, and nobody ever sees a peer dead.
func TestSetKeysRotatesARunningGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"node-0", "node-1", "node-2"}
		r := newRunner(t, names...)
		for _, n := range names {
			r.run(n)
		}
		r.until("every node hears every other", r.allAlive(names...))
		newKey := []byte("a-brand-new-key-0123456789abcdef")
		steps := []struct {
			key    []byte
			accept [][]byte
		}{{testKey, [][]byte{newKey}}, {newKey, [][]byte{testKey}}, {newKey, nil}}
		for _, st := range steps {
			for _, n := range names {
				if err := r.ms[n].SetKeys(st.key, st.accept); err != nil {
					t.Fatal(err)
				}
				for range 2 * timeout / (5 * time.Millisecond) {
					synctest.Wait()
					r.clock.Advance(5 * time.Millisecond)
					if !r.allAlive(names...)() {
						t.Fatalf("a peer looked dead after %s took key %q accepting %q", n, st.key, st.accept)
					}
				}
			}
		}
		if st := r.ms["node-0"].Stats(); st.Rejected[RejectMAC] != 0 {
			t.Errorf("node-0 refused %d MACs during the rotation", st.Rejected[RejectMAC])
		}
		if err := r.ms["node-0"].SetKeys([]byte("short"), nil); err == nil {
			t.Error("SetKeys took a short key")
		}
	})
}
