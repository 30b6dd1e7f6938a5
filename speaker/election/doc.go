// Package election picks, for each announced address, the one node that announces it on layer 2.
//
// Every speaker runs the same pure function over the same facts (Nodes from the API server, speaker
// liveness from package liveness, the nodes with ready local endpoints) and reaches the same answer
// without talking to the others: no leases, no leader, no API writes. The ranking is rendezvous
// (highest-random-weight) hashing of (node name, address), so addresses spread evenly over the
// eligible nodes and, when a node becomes ineligible, only the addresses it announced move; when a
// node becomes eligible, about 1/N of the addresses move to it and nothing else changes.
//
// The unit of election is the address, not the Service: Services sharing an IP are announced from
// the same node because they are one Announcement. The caller folds them together (see Announcement).
//
// Each Result carries the winner and a typed Reason saying why this node does or does not announce,
// whose String is a CamelCase token fit for an Event reason or a metric label; Result.Message is the
// sentence for a human.
//
// The hash (FNV-1a 64 of the name and of the 16-byte address, combined by the murmur3 64-bit
// finaliser) is part of the contract between speakers of different versions during a rolling
// upgrade: two versions that rank differently would both announce. golden_test.go pins it.
//
// The package imports nothing from Kubernetes and does no I/O; an Electorate is immutable and safe
// for concurrent use.
package election
