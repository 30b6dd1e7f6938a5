package liveness

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Heartbeat datagram, version 1. Integers are big-endian.
//
//	offset  size  field
//	0       4     magic "FDLV"
//	4       1     version (1)
//	5       1     flags: bit 0 LEAVING; other bits must be zero
//	6       8     incarnation of the sender: random, fixed for the life of the process, never 0
//	14      8     sequence: per sender incarnation, +1 for every datagram sent to any peer, never 0
//	22      8     nonce: the sender's current challenge, random, replaced every Timeout, never 0
//	30      8     echo: the receiver's nonce as the sender last heard it, 0 if never
//	38      1     n, length of the sender's node name, 1..253
//	39      n     sender's node name: lowercase RFC 1123 subdomain characters [a-z0-9.-]
//	39+n    32    HMAC-SHA256 under the shared key of bytes [0, 39+n)
//
// The MAC covers everything, so a node without the key can neither forge nor alter a datagram.
// Sequence and echo make a recorded datagram useless later (see handle): the sequence rules out
// replays of what the receiver has seen, and the echo of a nonce that the receiver replaces every
// Timeout (accepting the current and the previous one) rules out anything recorded more than
// about two Timeouts ago, whether the receiver restarted since or the datagram never reached it.
const (
	magic        = "FDLV"
	wireVersion  = 1
	headerSize   = 39
	macSize      = sha256.Size
	maxNameLen   = 253
	minDatagram  = headerSize + 1 + macSize
	maxDatagram  = headerSize + maxNameLen + macSize
	flagLeaving  = 1 << 0
	knownFlags   = flagLeaving
	offVersion   = 4
	offFlags     = 5
	offInc       = 6
	offSeq       = 14
	offNonce     = 22
	offEcho      = 30
	offNameLen   = 38
	readBufferSz = 2048 // larger than any valid datagram, so an oversized one is seen whole and rejected
)

type datagram struct {
	flags uint8
	inc   uint64
	seq   uint64
	nonce uint64
	echo  uint64
	name  string
}

func (d *datagram) leaving() bool { return d.flags&flagLeaving != 0 }

// appendDatagram appends the encoded, MACed datagram to b. mac is an HMAC-SHA256 under the signing
// key, reset here; d.name must be valid (checked by New and SetPeers).
func appendDatagram(b []byte, d *datagram, mac hash.Hash) []byte {
	start := len(b)
	b = append(b, magic...)
	b = append(b, wireVersion, d.flags)
	b = binary.BigEndian.AppendUint64(b, d.inc)
	b = binary.BigEndian.AppendUint64(b, d.seq)
	b = binary.BigEndian.AppendUint64(b, d.nonce)
	b = binary.BigEndian.AppendUint64(b, d.echo)
	b = append(b, byte(len(d.name)))
	b = append(b, d.name...)
	mac.Reset()
	mac.Write(b[start:])
	return mac.Sum(b)
}

// parse checks and decodes a datagram. macs are HMAC-SHA256 instances under every accepted key;
// the datagram is authentic if one of them matches. Nothing is trusted before the MAC is checked,
// except the magic and version, which only decide the reason a datagram is rejected.
func parse(b []byte, macs []hash.Hash) (datagram, RejectReason) {
	if len(b) < minDatagram || len(b) > maxDatagram || string(b[:4]) != magic {
		return datagram{}, RejectMalformed
	}
	if b[offVersion] != wireVersion {
		return datagram{}, RejectVersion
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	if !verify(body, sum, macs) {
		return datagram{}, RejectMAC
	}
	n := int(b[offNameLen])
	if n == 0 || headerSize+n != len(body) || b[offFlags]&^knownFlags != 0 {
		return datagram{}, RejectMalformed
	}
	d := datagram{
		flags: b[offFlags],
		inc:   binary.BigEndian.Uint64(b[offInc:]),
		seq:   binary.BigEndian.Uint64(b[offSeq:]),
		nonce: binary.BigEndian.Uint64(b[offNonce:]),
		echo:  binary.BigEndian.Uint64(b[offEcho:]),
		name:  string(body[headerSize:]),
	}
	if d.inc == 0 || d.seq == 0 || d.nonce == 0 || !validName(d.name) {
		return datagram{}, RejectMalformed
	}
	return d, 0
}

func verify(body, sum []byte, macs []hash.Hash) bool {
	var buf [macSize]byte
	for _, m := range macs {
		m.Reset()
		m.Write(body)
		if hmac.Equal(m.Sum(buf[:0]), sum) {
			return true
		}
	}
	return false
}

// validName accepts what a Node name may be: a lowercase RFC 1123 subdomain, checked loosely
// (characters and length), which is all the wire format relies on.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func newMAC(key []byte) hash.Hash { return hmac.New(sha256.New, key) }
