package liveness

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	testBoot = BootID{0x0f, 0x6d, 0x2c, 0x1e, 0x3b, 0x4a, 0x4c, 0x5d, 0x8e, 0x9f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

func macs(keys ...[]byte) []hash.Hash {
	var out []hash.Hash
	for _, k := range keys {
		out = append(out, newMAC(k))
	}
	return out
}

func encode(d datagram, key []byte) []byte { return appendDatagram(nil, &d, newMAC(key)) }

func TestDatagramRoundTrip(t *testing.T) {
	for _, d := range []datagram{
		{version: wireV1, inc: 1, seq: 1, nonce: 1, name: "a"},
		{version: wireV1, flags: flagLeaving, inc: 0xfedcba9876543210, seq: 1 << 40, nonce: 0x0102030405060708, echo: 42, name: "node-a"},
		{version: wireV1, inc: ^uint64(0), seq: ^uint64(0), nonce: ^uint64(0), echo: ^uint64(0), name: strings.Repeat("n", maxNameLen)},
		{version: wireV2, inc: 7, seq: 9, nonce: 3, name: "ip-10-0-3-17.eu-west-1.compute.internal"},
		{version: wireV2, inc: 7, seq: 9, nonce: 3, name: "node-a", dead: []string{"node-b", "node-c"}},
		{version: wireV2, flags: flagLeaving, inc: 1, seq: 1, nonce: 1, name: "a", dead: []string{strings.Repeat("x", maxNameLen)}},
		{version: wireVersion, inc: 7, seq: 9, nonce: 3, name: "node-a", boot: testBoot, dead: []string{"node-b", "node-c"}},
		{version: wireVersion, inc: 7, seq: 9, nonce: 3, name: "node-a"}, // boot ID unknown
		{version: wireVersion, flags: flagLeaving, inc: 1, seq: 1, nonce: 1, name: "a", boot: BootID{0xff, 15: 1}, dead: []string{strings.Repeat("x", maxNameLen)}},
		{version: wireV3, inc: 7, seq: 9, nonce: 3, name: "node-a", boot: testBoot, dead: []string{"node-b"}},
		{version: wireVersion, flags: flagLeaving | flagRestarting, inc: 2, seq: 3, nonce: 4, name: "node-a", boot: testBoot},
	} {
		b := encode(d, testKey)
		size := headerSize + len(d.name) + macSize
		if d.version >= wireV3 {
			size += bootIDSize
		}
		if d.version >= wireV2 {
			size++
			for _, n := range d.dead {
				size += 1 + len(n)
			}
		}
		if len(b) != size {
			t.Errorf("%q: %d bytes, want %d", d.name, len(b), size)
		}
		got, r := parse(b, macs(testKey))
		if r != 0 {
			t.Fatalf("%q: rejected: %v", d.name, r)
		}
		if diff := cmp.Diff(d, got, cmp.AllowUnexported(datagram{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestDeadListCut: a dead list too long for one datagram is cut to the names that fit, in order,
// and the datagram still parses: the receiver under-counts the dead, which only keeps endpoints.
func TestDeadListCut(t *testing.T) {
	var dead []string
	for i := range 100 {
		dead = append(dead, fmt.Sprintf("a-rather-long-node-name-%03d.example", i))
	}
	b := encode(datagram{inc: 1, seq: 1, nonce: 1, name: "node-a", dead: dead}, testKey)
	if len(b) > maxDatagramV2 {
		t.Fatalf("%d bytes, want ≤ %d", len(b), maxDatagramV2)
	}
	got, r := parse(b, macs(testKey))
	if r != 0 {
		t.Fatalf("rejected: %v", r)
	}
	if len(got.dead) == 0 || len(got.dead) >= len(dead) || !slices.Equal(got.dead, dead[:len(got.dead)]) {
		t.Errorf("kept %d names (%v), want a non-empty prefix of the 100", len(got.dead), got.dead)
	}
}

func TestParseRejects(t *testing.T) {
	good := datagram{inc: 5, seq: 6, nonce: 8, echo: 7, name: "node-b", boot: testBoot}
	goodV2 := good
	goodV2.version = wireV2
	list := headerSize + len(good.name) + bootIDSize // where version 3's dead list starts
	// resign re-MACs a tampered datagram, so that the check after the MAC is what rejects it.
	resign := func(b []byte) []byte {
		body := b[:len(b)-macSize]
		m := newMAC(testKey)
		m.Write(body)
		return m.Sum(bytes.Clone(body))
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(encode(good, testKey)) }
	tests := []struct {
		name string
		b    []byte
		want RejectReason
	}{
		{"empty", nil, RejectMalformed},
		{"too short", encode(good, testKey)[:minDatagram-1], RejectMalformed},
		{"too long (version 1)", append(encode(datagram{version: wireV1, inc: 1, seq: 1, nonce: 1, name: strings.Repeat("n", maxNameLen)}, testKey), 0), RejectMalformed},
		{"too long (version 2)", append(encode(good, testKey), make([]byte, maxDatagramV2)...), RejectMalformed},
		{"dead list beyond the end", mutate(func(b []byte) []byte { b[list] = 1; return resign(b) }), RejectMalformed},
		{"bytes after the dead list", resign(append(encode(good, testKey)[:list+1], make([]byte, macSize+1)...)), RejectMalformed},
		{"bad dead name", resign(append(encode(datagram{inc: 5, seq: 6, nonce: 8, name: "node-b", dead: []string{"node-c"}}, testKey)[:list+2], append([]byte("NODE-C"), make([]byte, macSize)...)...)), RejectMalformed},
		{"version 3 without its dead count", resign(append(encode(good, testKey)[:list], make([]byte, macSize)...)), RejectMalformed},
		{"version 3 with a short boot ID", resign(append(encode(good, testKey)[:list-4], make([]byte, macSize)...)), RejectMalformed},
		{"version 2 without its dead count", resign(append(encode(goodV2, testKey)[:headerSize+len(good.name)], make([]byte, macSize)...)), RejectMalformed},
		// What a version 2 parser sees of version 3: its boot ID where the dead list should be.
		{"version 2 with a boot ID", mutate(func(b []byte) []byte { b[offVersion] = wireV2; return resign(b) }), RejectMalformed},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), RejectMalformed},
		{"other version", mutate(func(b []byte) []byte { b[offVersion] = 5; return b }), RejectVersion},
		{"restarting without leaving", mutate(func(b []byte) []byte { b[offFlags] = flagRestarting; return resign(b) }), RejectMalformed},
		// A version 3 parser refuses the flag: version 3 peers are never sent it (buildLocked).
		{"restarting in version 3", mutate(func(b []byte) []byte {
			b[offVersion], b[offFlags] = wireV3, flagLeaving|flagRestarting
			return resign(b)
		}), RejectMalformed},
		{"other key", encode(good, otherKey), RejectMAC},
		{"flipped bit", mutate(func(b []byte) []byte { b[offSeq+7] ^= 1; return b }), RejectMAC},
		{"truncated MAC", mutate(func(b []byte) []byte { return b[:len(b)-1] }), RejectMAC},
		{"name length beyond the end", mutate(func(b []byte) []byte { b[offNameLen] = 200; return resign(b) }), RejectMalformed},
		{"name length short of the end", mutate(func(b []byte) []byte { b[offNameLen] = 3; return resign(b) }), RejectMalformed},
		{"zero name length", mutate(func(b []byte) []byte { b[offNameLen] = 0; return resign(b) }), RejectMalformed},
		{"unknown flag", mutate(func(b []byte) []byte { b[offFlags] = 0x80; return resign(b) }), RejectMalformed},
		{"zero incarnation", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[offInc:], 0); return resign(b) }), RejectMalformed},
		{"zero sequence", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[offSeq:], 0); return resign(b) }), RejectMalformed},
		{"zero nonce", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[offNonce:], 0); return resign(b) }), RejectMalformed},
		{"uppercase name", mutate(func(b []byte) []byte { b[headerSize] = 'N'; return resign(b) }), RejectMalformed},
		{"NUL in name", mutate(func(b []byte) []byte { b[headerSize+2] = 0; return resign(b) }), RejectMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := parse(tc.b, macs(testKey)); got != tc.want {
				t.Errorf("parse: %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("second accepted key", func(t *testing.T) {
		if _, r := parse(encode(good, otherKey), macs(testKey, otherKey)); r != 0 {
			t.Errorf("rejected under a second key: %v", r)
		}
	})
}

// FuzzParse: no input panics, and whatever parses re-encodes to the same bytes (so two parsers
// cannot disagree on a datagram's meaning). The fuzzer cannot forge MACs, so the target also
// re-signs the input to reach the field checks behind the MAC.
func FuzzParse(f *testing.F) {
	f.Add(encode(datagram{inc: 1, seq: 1, nonce: 1, name: "a"}, testKey))
	f.Add(encode(datagram{flags: flagLeaving, inc: 3, seq: 99, nonce: 5, echo: 12, name: "node-b.example"}, testKey))
	f.Add(encode(datagram{version: wireV1, inc: 3, seq: 99, nonce: 5, echo: 12, name: "node-b.example"}, testKey))
	f.Add(encode(datagram{version: wireV2, inc: 3, seq: 99, nonce: 5, echo: 12, name: "node-b", dead: []string{"node-c", "node-d"}}, testKey))
	f.Add(encode(datagram{inc: 3, seq: 99, nonce: 5, echo: 12, name: "node-b", boot: testBoot, dead: []string{"node-c", "node-d"}}, testKey))
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			d, r := parse(b, macs(testKey))
			if r != 0 {
				return
			}
			if again := encode(d, testKey); !bytes.Equal(again, b) {
				t.Fatalf("parsed %+v from %x, which encodes to %x", d, b, again)
			}
		}
		check(b)
		if len(b) > macSize {
			body := b[:len(b)-macSize]
			m := newMAC(testKey)
			m.Write(body)
			check(m.Sum(bytes.Clone(body)))
		}
	})
}
