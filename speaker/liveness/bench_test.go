package liveness

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkHandle is the receive cost of one heartbeat (parse, HMAC check, accept): with N peers
// at the default Interval, a speaker handles 5 × N of them a second.
func BenchmarkHandle(b *testing.B) {
	s := newSim(b, 2, nil)
	s.startAll()
	s.run(time.Second)
	m0, m1 := s.nodes["node-0"].m, s.nodes["node-1"].m
	dgrams := make([][]byte, 0, 1024)
	for i := range 1024 {
		d := datagram{inc: m1.inc, seq: m1.seq + 1 + uint64(i), nonce: m1.nonce, echo: m0.nonce, name: "node-1"}
		dgrams = append(dgrams, encode(d, testKey))
	}
	now := s.now()
	b.ReportAllocs()
	b.SetBytes(int64(len(dgrams[0])))
	i := 0
	for b.Loop() {
		if i == len(dgrams) { // sequences must grow: re-sign a fresh batch, off the clock
			b.StopTimer()
			m0.mu.Lock()
			base := m0.peers["node-1"].seq
			m0.mu.Unlock()
			for j := range dgrams {
				dgrams[j] = encode(datagram{inc: m1.inc, seq: base + 1 + uint64(j), nonce: m1.nonce, echo: m0.nonce, name: "node-1"}, testKey)
			}
			i = 0
			b.StartTimer()
		}
		m0.handle(dgrams[i], now)
		i++
	}
	if st := m0.Stats(); len(st.Rejected) > 1 {
		b.Fatalf("rejected: %v", st.Rejected)
	}
}

// BenchmarkBuildRound is the send-side cost of one heartbeat round to N peers (encode and sign;
// the socket writes are not included).
func BenchmarkBuildRound(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			conn := newMemNet().listen(netip.MustParseAddrPort("192.0.2.1:7473"))
			m, err := New(Config{NodeName: "node-0", Key: testKey, Conn: conn, Clock: newFakeClock()})
			if err != nil {
				b.Fatal(err)
			}
			peers := map[string]netip.AddrPort{}
			for i := range n {
				peers[fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", i/250, i%250)] =
					netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i % 250)}), 7473)
			}
			if err := m.SetPeers(peers); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				m.mu.Lock()
				out := m.buildLocked(0, m.deadListLocked(time.Now()))
				m.mu.Unlock()
				if len(out) != n {
					b.Fatal(len(out))
				}
			}
		})
	}
}
