//go:build netns

package bgp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestListening checks that a speaker opens no listening socket unless it is asked to (for
// passive peers), and that a passive session works when it is.
func TestListening(t *testing.T) {
	l := newLab(t, 2)
	r := l.startGoBGP(t, routerConfig(speakerASN, nodeAddr(0), nodeAddr(1)))
	active := startSpeaker(t, l.nodes[0], nodeAddr(0))
	active.set([]PeerConfig{routerPeer("r")}, hostRoutes("r", "198.51.100.7"))
	passive := startSpeakerWith(t, l.nodes[1], helperConfig{RouterID: nodeAddr(1), ASN: speakerASN, Listen: true})
	passive.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) { p.Passive = true })}, hostRoutes("r", "198.51.100.7"))
	active.waitState("r", StateEstablished, 30*time.Second)
	passive.waitState("r", StateEstablished, 30*time.Second)
	waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0), nodeAddr(1)}, 10*time.Second)
	if out := l.nodes[0].Exec("ss", "-Htln"); strings.TrimSpace(out) != "" {
		t.Errorf("the speaker without passive peers listens:\n%s", out)
	}
	if out := l.nodes[1].Exec("ss", "-Htln"); !strings.Contains(out, ":179 ") {
		t.Errorf("the speaker with a passive peer does not listen on 179:\n%s", out)
	}
}

// fakePeer is a minimal BGP peer for sending what real daemons never send.
type fakePeer struct {
	t  *testing.T
	ln net.Listener
}

func bgpMsg(typ byte, body []byte) []byte {
	m := make([]byte, 19, 19+len(body))
	for i := range 16 {
		m[i] = 0xff
	}
	binary.BigEndian.PutUint16(m[16:], uint16(19+len(body)))
	m[18] = typ
	return append(m, body...)
}

func readMsg(c net.Conn) (byte, []byte, error) {
	h := make([]byte, 19)
	if _, err := io.ReadFull(c, h); err != nil {
		return 0, nil, err
	}
	body := make([]byte, int(binary.BigEndian.Uint16(h[16:]))-19)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return h[18], body, nil
}

// establish accepts the speaker's connection and completes the OPEN exchange.
func (f *fakePeer) establish() net.Conn {
	f.t.Helper()
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if typ, _, err := readMsg(c); err != nil || typ != 1 {
		f.t.Fatalf("want the speaker's OPEN, got type %d, %v", typ, err)
	}
	// OPEN: version 4, AS 64512, hold 90, identifier 10.0.0.1, capabilities: multiprotocol
	// IPv4 unicast and 4-octet AS 64512.
	caps := []byte{1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xfc, 0x00}
	open := []byte{4, 0xfc, 0x00, 0, 90, 10, 0, 0, 1, byte(2 + len(caps)), 2, byte(len(caps))}
	open = append(open, caps...)
	if _, err := c.Write(append(bgpMsg(1, open), bgpMsg(4, nil)...)); err != nil {
		f.t.Fatal(err)
	}
	for {
		typ, body, err := readMsg(c)
		if err != nil {
			f.t.Fatalf("waiting for the speaker's KEEPALIVE: %v", err)
		}
		if typ == 3 {
			f.t.Fatalf("the speaker refused our OPEN: notification %v", body)
		}
		if typ == 4 {
			return c
		}
	}
}

// TestMalformedUpdates sends UPDATE messages no sane peer sends: the speaker must survive
// each, report the session down, and connect again.
func TestMalformedUpdates(t *testing.T) {
	l := newLab(t, 1)
	ln, err := l.router.Listen("tcp", routerAddr.String()+":179")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &fakePeer{t: t, ln: ln}
	sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
	sp.set([]PeerConfig{routerPeer("r")}, hostRoutes("r", "198.51.100.7"))

	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"withdrawn length beyond the message", []byte{0xff, 0xff, 0, 0}},
		{"attribute length beyond the message", []byte{0, 0, 0, 7, 0x40, 1, 200, 0}},
		{"attributes length beyond the message", []byte{0, 0, 0xff, 0x00}},
		{"AS_PATH segment longer than the attribute", []byte{0, 0, 0, 11, 0x40, 1, 1, 0, 0x40, 2, 4, 2, 9, 0, 0, 24, 192, 0, 2}},
		{"NLRI prefix length 33", []byte{0, 0, 0, 0, 33, 192, 0, 2, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			c := f.establish()
			defer func() { _ = c.Close() }()
			sp.waitState("r", StateEstablished, 10*time.Second)
			if _, err := c.Write(bgpMsg(2, tt.body)); err != nil {
				t.Fatal(err)
			}
			// The speaker answers with a NOTIFICATION and closes, or treats the update as a
			// withdraw (RFC 7606) and keeps the session; either way it stays up and answers.
			var got []string
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			for {
				typ, body, err := readMsg(c)
				if err != nil {
					break
				}
				if typ == 3 && len(body) >= 2 {
					got = append(got, fmt.Sprintf("notification %d/%d", body[0], body[1]))
				}
			}
			t.Logf("speaker's reaction: %v; session %+v", got, sp.state("r"))
			if s := sp.call(helperCmd{Cmd: "sessions"}); len(s.Sessions) != 1 {
				t.Fatalf("speaker sessions after the malformed update: %+v", s)
			}
			rib := sp.call(helperCmd{Cmd: "rib"})
			if len(rib.RIB) != 1 || rib.RIB[0] != netip.MustParsePrefix("198.51.100.7/32") {
				t.Errorf("the speaker's RIB changed: %v", rib.RIB)
			}
		})
	}
	// GoBGP reports what it refused through the speaker's logger (Config.Logger), not to a
	// logger of its own that nobody reads.
	if logs := sp.stderr.String(); !strings.Contains(logs, `"logger":"gobgp"`) {
		t.Errorf("no GoBGP warning reached the speaker's log after five malformed updates; its stderr:\n%s", logs)
	}
}

// TestSessionOptions peers with GTSM on both ends (gobgpd requires TTL 255 on arrival, the
// speaker sends with 255) and graceful restart, which the router must see in the speaker's OPEN.
func TestSessionOptions(t *testing.T) {
	l := newLab(t, 1)
	rc := routerConfig(speakerASN, nodeAddr(0))
	rc.GTSM = true
	r := l.startGoBGP(t, rc)
	sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
	sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) {
		p.TTLSecurityHops = 1
		p.GracefulRestart = 120 * time.Second
	})}, hostRoutes("r", "198.51.100.7"))
	sp.waitState("r", StateEstablished, 30*time.Second)
	waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)
	out, err := r.Command("neighbor", nodeAddr(0).String()).CombinedOutput()
	if err != nil {
		t.Fatalf("gobgp neighbor: %v\n%s", err, out)
	}
	// gobgp prints one line per capability: "graceful-restart:  received" (or "advertised and
	// received" when both ends have it).
	received := false
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.TrimSpace(line); strings.HasPrefix(f, "graceful-restart:") && strings.Contains(f, "received") {
			received = true
		}
	}
	if !received {
		t.Errorf("the router did not receive graceful restart:\n%s", out)
	}
}
