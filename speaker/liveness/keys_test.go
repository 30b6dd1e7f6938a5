package liveness

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

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
		s := testkit.NewKubeletSecret(t, map[string]string{"key": oldKey})
		files := KeyFiles{Key: s.Path("key"), Accept: s.Path("accept")}
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
			s.Write(data)
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
	s := testkit.NewKubeletSecret(t, map[string]string{"key": oldKey, "empty": "", "short": "x"})
	for _, tt := range []struct {
		name    string
		files   KeyFiles
		wantErr bool
		accept  int
	}{
		{"no accept file named", KeyFiles{Key: s.Path("key")}, false, 0},
		{"accept file missing", KeyFiles{Key: s.Path("key"), Accept: s.Path("nothing")}, false, 0},
		{"accept file empty", KeyFiles{Key: s.Path("key"), Accept: s.Path("empty")}, false, 0},
		{"accept key", KeyFiles{Key: s.Path("key"), Accept: s.Path("key")}, false, 1},
		{"accept key short", KeyFiles{Key: s.Path("key"), Accept: s.Path("short")}, true, 0},
		{"key missing", KeyFiles{Key: s.Path("nothing")}, true, 0},
		{"key short", KeyFiles{Key: s.Path("short")}, true, 0},
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
