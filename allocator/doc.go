// Package allocator is frontdesk's allocation core: LoadBalancer addresses from admin-defined pools
// (IPAllocator) and NodePorts with the API server's semantics (PortAllocator). It imports nothing
// from Kubernetes; adapters turn Services into calls. All types are safe for concurrent use.
//
// # Addresses
//
// A Pool is a set of CIDRs and explicit ranges, IPv4, IPv6 or both; pools must not overlap
// (*ErrPoolOverlap names both). An owner (the bare-metal provider uses "namespace/name") calls
// Assign with its candidate pools in order of preference, its families and optionally requested
// addresses; it gets one address per family, all or nothing. Owners share an address when their
// Sharing keys are non-empty and equal, their Backend strings are equal and their ports do not
// collide. On start-up, Restore every existing assignment before any Assign: a restore that
// contradicts another holding is reported (*ErrConflict names both owners), never overwritten.
// SetPools replaces the pools at run time; an address no pool contains any more stays with its
// owners and is listed by Orphans.
//
// Finding a free address is O(1) amortised and memory is O(addresses held), whatever the size of a
// pool: each range keeps a forward-only cursor and a FIFO queue of released addresses, not a bitmap
// (see segment). Capacities are *big.Int, since an IPv6 pool can exceed 2^64 addresses.
//
// # NodePorts
//
// PortAllocator follows KEP-3668: the bottom StaticBandSize ports of the range (86 of 30000-32767)
// are left to explicit requests while random dynamic picks can come from the rest. A port belongs
// to one owner, which may use it for several protocols (a Service's TCP and UDP ports with one
// nodePort). Every operation is O(1).
//
// Errors are sentinels (ErrFull, ErrAllocated) and types carrying the facts (*ErrNotInRange,
// *ErrConflict, *ErrPortConflict, *ErrUnknownPool, *ErrInvalidPool, *ErrPoolOverlap,
// *ErrInvalidRequest, *ErrInvalidPortRange), for errors.Is and errors.As. See README.md for the
// algorithms, their costs and how they are tested.
package allocator
