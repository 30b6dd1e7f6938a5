// Package announce computes, for one speaker, which LoadBalancer addresses this node announces on
// layer 2 and why: the pure step between the Kubernetes objects a speaker watches and the packages
// that act on them (speaker/election ranks, speaker/l2 answers ARP and NDP).
//
// Compute takes a Snapshot (this node's name, Services, EndpointSlices, Nodes, speaker liveness,
// the pool of every address and the layer-2 advertisement rules) and returns a Plan: the
// map[netip.Addr]Announcement to hand to l2.Announcer.SetVIPs, and one Decision per address
// (Services, winner, typed Reason, interfaces) for Events and status. Diff compares two Plans and
// lists the addresses whose announcing node changed.
//
// The unit is the address, not the Service: Services sharing an address are folded into one
// election.Announcement, and a dual-stack Service gives two addresses, elected independently.
//
// Compute does no I/O and keeps no state; it reads its inputs without changing them, and gives the
// same Plan whatever the order of the slices in the Snapshot. See README.md for the rules.
package announce
