package liveness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"k8s.io/klog/v2"
)

// KeyFiles name the files holding the heartbeat keys, each file one key, used whole (every byte,
// a trailing newline included, as Secrets are mounted).
type KeyFiles struct {
	// Key signs and verifies (Config.Key); required.
	Key string
	// Accept, optional, holds a key that verifies too but never signs (Config.AcceptKeys): the
	// next key or the previous one during a rotation. A missing or empty file: none.
	Accept string
}

// Read returns the key and the accepted keys (nil or one).
func (f KeyFiles) Read() (key []byte, accept [][]byte, err error) {
	if key, err = os.ReadFile(f.Key); err != nil {
		return nil, nil, fmt.Errorf("reading the heartbeat key: %w", err)
	}
	if len(key) < MinKeySize {
		return nil, nil, fmt.Errorf("the heartbeat key in %s has %d bytes; want at least %d", f.Key, len(key), MinKeySize)
	}
	if f.Accept == "" {
		return key, nil, nil
	}
	a, err := os.ReadFile(f.Accept)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && len(a) == 0):
		return key, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading the accepted heartbeat key: %w", err)
	case len(a) < MinKeySize:
		return nil, nil, fmt.Errorf("the accepted heartbeat key in %s has %d bytes; want at least %d, or an empty file for none", f.Accept, len(a), MinKeySize)
	}
	return key, [][]byte{a}, nil
}

// KeyID names a key in logs and in frontdesk_liveness_key_info without revealing it: the first 4
// bytes of a SHA-256 of it, in hex. Every speaker showing the same IDs is how an operator knows a
// rotation step has reached all of them. (Heartbeats already carry an HMAC under the key, so the
// hash tells an attacker nothing they could not brute-force from the wire.)
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("frontdesk liveness key id\x00"), key...))
	return hex.EncodeToString(h[:4])
}

// KeySetter is what WatchKeys updates; *Membership is one.
type KeySetter interface {
	SetKeys(key []byte, accept [][]byte) error
}

// DefaultKeyPoll is how often WatchKeys reads the key files. The kubelet takes up to a minute or
// two to update a mounted Secret, so a few seconds more make no difference, and reading the
// content, rather than watching for events, cannot miss the kubelet's swap of the ..data symlink
// (the files themselves are symlinks into it and never change in place).
const DefaultKeyPoll = 5 * time.Second

// WatchKeys re-reads files every poll (DefaultKeyPoll if zero) until ctx ends, and hands the keys
// to m whenever they change: a rotated Secret reaches a running speaker without a restart.
// current are the keys m runs with. A file that cannot be read, or holds a key too short, keeps
// the keys m has, and is logged once per distinct error.
func WatchKeys(ctx context.Context, m KeySetter, files KeyFiles, current [][]byte, poll time.Duration, log klog.Logger) {
	if poll <= 0 {
		poll = DefaultKeyPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		key, accept, err := files.Read()
		if err == nil && slices.EqualFunc(current, append([][]byte{key}, accept...), bytes.Equal) {
			lastErr = ""
			continue
		}
		if err == nil {
			err = m.SetKeys(key, accept)
		}
		if err != nil {
			if err.Error() != lastErr {
				log.Error(err, "Heartbeat keys not reloaded; keeping the previous ones")
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		current = append([][]byte{key}, accept...)
		PublishKeys(key, accept)
		log.Info("Heartbeat keys reloaded", "key", KeyID(key), "accept", keyIDs(accept))
	}
}

func keyIDs(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = KeyID(k)
	}
	return out
}

// PublishKeys sets frontdesk_liveness_key_info to the IDs of the keys in use.
func PublishKeys(key []byte, accept [][]byte) {
	registerMetrics()
	keyInfoMetric.Reset()
	keyInfoMetric.WithLabelValues(KeyID(key), "sign").Set(1)
	for _, k := range accept {
		keyInfoMetric.WithLabelValues(KeyID(k), "accept").Set(1)
	}
}
