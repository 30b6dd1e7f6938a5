package liveness

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Heartbeat datagram, versions 1 to 4. Integers are big-endian.
//
//	offset  size  field
//	0       4     magic "FDLV"
//	4       1     version (1 to 4)
//	5       1     flags: bit 0 LEAVING; version 4: bit 1 RESTARTING (with LEAVING only);
//	              other bits must be zero
//	6       8     incarnation of the sender: random, fixed for the life of the process, never 0
//	14      8     sequence: per sender incarnation, +1 for every datagram sent to any peer, never 0
//	22      8     nonce: the sender's current challenge, random, replaced every Timeout, never 0
//	30      8     echo: the receiver's nonce as the sender last heard it, 0 if never
//	38      1     n, length of the sender's node name, 1..253
//	39      n     sender's node name: lowercase RFC 1123 subdomain characters [a-z0-9.-]
//	                  versions 3 and 4:
//	39+n    16    boot ID of the sender's node (BootID), all zeros if unknown
//	                  versions 2 to 4 (at 39+n in version 2, 55+n from version 3):
//	        1     k, how many peers the sender reports dead
//	        ...   k × (1 byte length, node name): the peers the sender heard and then lost
//	end-32  32    HMAC-SHA256 under the shared key of every byte before it
//
// The MAC covers everything, so a node without the key can neither forge nor alter a datagram.
// Sequence and echo make a recorded datagram useless later (see handle): the sequence rules out
// replays of what the receiver has seen, and the echo of a nonce that the receiver replaces every
// Timeout (accepting the current and the previous one) rules out anything recorded more than
// about two Timeouts ago, whether the receiver restarted since or the datagram never reached it.
//
// Version 2 adds the sender's dead list, so that a receiver knows whether the other live speakers
// agree that a node is dead (see View and speaker/deadnodes). A speaker of version 1 rejects a
// version 2 datagram (RejectVersion), so during a rolling upgrade a new speaker sends each peer
// the version it last heard from that peer: version 2 until a version 1 datagram with a valid
// MAC arrives. The list is cut to keep a datagram under maxDatagramV2; a receiver only ever
// under-counts the dead then, which keeps endpoints rather than excluding them.
//
// Version 3 adds the boot ID of the sender's node, so that a receiver tells a speaker restart
// (same boot) from a node reboot (a new one). Speakers of versions 1 and 2 reject it, and are
// answered in their own version as above (they then learn no boot ID, and a version 3 receiver
// hears none from them: unknown, which is how the previous release behaved). Version 2 parsers
// refuse any byte after the dead list, which is why the boot ID needs a version of its own.
//
// Version 4 is version 3 plus the RESTARTING flag: a speaker stopping because its Pod is being
// replaced on a node that stays up (a rolling upgrade) says so, and its peers keep it alive for
// their restart grace instead of taking its addresses over and handing them back seconds later.
// Version 3 parsers refuse unknown flags, so a version 3 peer is sent version 3 without the flag:
// it takes the speaker for leaving, as that release did.
const (
	magic       = "FDLV"
	wireVersion = 4
	wireV3      = 3
	wireV2      = 2
	wireV1      = 1
	bootIDSize  = 16
	headerSize  = 39
	macSize     = sha256.Size
	maxNameLen  = 253
	minDatagram = headerSize + 1 + macSize
	maxDatagram = headerSize + maxNameLen + macSize // version 1
	// maxDatagramV2 keeps a datagram within one packet on any link (IPv6's minimum MTU is 1280).
	maxDatagramV2  = 1200
	flagLeaving    = 1 << 0
	flagRestarting = 1 << 1
	knownFlagsV3   = flagLeaving // versions 1 to 3
	knownFlags     = flagLeaving | flagRestarting
	offVersion     = 4
	offFlags       = 5
	offInc         = 6
	offSeq         = 14
	offNonce       = 22
	offEcho        = 30
	offNameLen     = 38
	readBufferSz   = 2048 // larger than any valid datagram, so an oversized one is seen whole and rejected
)

type datagram struct {
	version uint8 // 0 is wireVersion
	flags   uint8
	inc     uint64
	seq     uint64
	nonce   uint64
	echo    uint64
	name    string
	// boot is the boot ID of the sender's node (version 3; zero: unknown).
	boot BootID
	// dead are the peers the sender reports dead (versions 2 and 3).
	dead []string
}

func (d *datagram) leaving() bool { return d.flags&flagLeaving != 0 }

// restarting: the sender is leaving and says its node stays up and it will be back (version 4).
func (d *datagram) restarting() bool { return d.flags&flagRestarting != 0 }

// appendDatagram appends the encoded, MACed datagram to b. mac is an HMAC-SHA256 under the signing
// key, reset here; d.name must be valid (checked by New and SetPeers). Of d.dead, the names that
// fit under maxDatagramV2 are written, in order.
func appendDatagram(b []byte, d *datagram, mac hash.Hash) []byte {
	start := len(b)
	v := d.version
	if v == 0 {
		v = wireVersion
	}
	b = append(b, magic...)
	b = append(b, v, d.flags)
	b = binary.BigEndian.AppendUint64(b, d.inc)
	b = binary.BigEndian.AppendUint64(b, d.seq)
	b = binary.BigEndian.AppendUint64(b, d.nonce)
	b = binary.BigEndian.AppendUint64(b, d.echo)
	b = append(b, byte(len(d.name)))
	b = append(b, d.name...)
	if v >= 3 {
		b = append(b, d.boot[:]...)
	}
	if v >= 2 {
		countAt, k := len(b), 0
		b = append(b, 0)
		for _, n := range d.dead {
			if k == 255 || len(b)-start+1+len(n)+macSize > maxDatagramV2 {
				break
			}
			b = append(b, byte(len(n)))
			b = append(b, n...)
			k++
		}
		b[countAt] = byte(k)
	}
	mac.Reset()
	mac.Write(b[start:])
	return mac.Sum(b)
}

// parse checks and decodes a datagram. macs are HMAC-SHA256 instances under every accepted key;
// the datagram is authentic if one of them matches. Nothing is trusted before the MAC is checked,
// except the magic and version, which only decide the reason a datagram is rejected.
func parse(b []byte, macs []hash.Hash) (datagram, RejectReason) {
	if len(b) < minDatagram || len(b) > maxDatagramV2 || string(b[:4]) != magic {
		return datagram{}, RejectMalformed
	}
	v := b[offVersion]
	if v != wireV1 && v != wireV2 && v != wireV3 && v != wireVersion {
		return datagram{}, RejectVersion
	}
	if v == wireV1 && len(b) > maxDatagram {
		return datagram{}, RejectMalformed
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	if !verify(body, sum, macs) {
		return datagram{}, RejectMAC
	}
	n := int(b[offNameLen])
	known := uint8(knownFlags)
	if v < wireVersion {
		known = knownFlagsV3
	}
	f := b[offFlags]
	if n == 0 || headerSize+n > len(body) || f&^known != 0 || (f&flagRestarting != 0 && f&flagLeaving == 0) {
		return datagram{}, RejectMalformed
	}
	d := datagram{
		version: v,
		flags:   b[offFlags],
		inc:     binary.BigEndian.Uint64(b[offInc:]),
		seq:     binary.BigEndian.Uint64(b[offSeq:]),
		nonce:   binary.BigEndian.Uint64(b[offNonce:]),
		echo:    binary.BigEndian.Uint64(b[offEcho:]),
		name:    string(body[headerSize : headerSize+n]),
	}
	rest := body[headerSize+n:]
	if v == wireV1 {
		if len(rest) != 0 {
			return datagram{}, RejectMalformed
		}
	} else {
		if v >= 3 {
			if len(rest) < bootIDSize {
				return datagram{}, RejectMalformed
			}
			d.boot = BootID(rest[:bootIDSize])
			rest = rest[bootIDSize:]
		}
		if len(rest) == 0 {
			return datagram{}, RejectMalformed
		}
		k := int(rest[0])
		rest = rest[1:]
		for range k {
			if len(rest) == 0 || len(rest) < 1+int(rest[0]) {
				return datagram{}, RejectMalformed
			}
			name := string(rest[1 : 1+int(rest[0])])
			if !validName(name) {
				return datagram{}, RejectMalformed
			}
			d.dead = append(d.dead, name)
			rest = rest[1+int(rest[0]):]
		}
		if len(rest) != 0 {
			return datagram{}, RejectMalformed
		}
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
