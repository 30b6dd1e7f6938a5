// Package liveness tells every speaker which other speakers are alive, by direct UDP heartbeats
// between them: no API server writes, no lease per address, so the cost is independent of the
// number of announced addresses, and a crashed speaker is declared dead within Timeout (800 ms by
// default) of its last heartbeat.
//
// Each speaker sends one small datagram to every peer every Interval (200 ms). A peer is alive
// while its heartbeats arrive and dead Timeout after the last one, or at once when it says it is
// leaving (Leave, on SIGTERM), so that the others take its addresses over without waiting.
// Datagrams carry an HMAC-SHA256 under a shared key, a random incarnation per process (a restart is
// recognised), a sequence number and the echo of the receiver's rotating nonce, so that nothing
// without the key can keep a dead speaker alive or kill a live one, and a recording replayed later
// is refused (see handle and README.md for the rules and their limits).
//
// Use:
//
//	conn, err := liveness.Listen(netip.AddrPortFrom(netip.IPv6Unspecified(), liveness.DefaultPort))
//	m, err := liveness.New(liveness.Config{NodeName: node, Key: key, Conn: conn})
//	m.SetPeers(peersFromNodes())       // again whenever Nodes change
//	go m.Run(ctx)                      // owns the socket; returns when ctx ends or after Leave
//	for range m.Changes() { reelect(m.Alive(), m.HasQuorum()) }
//	...
//	m.Leave(ctx)                       // on SIGTERM: peers take over at once
//
// Membership is safe for concurrent use. Its clock and socket are injected (Config.Clock,
// Config.Conn), which the tests use to run many speakers in one process, exactly, on a simulated
// network.
package liveness
