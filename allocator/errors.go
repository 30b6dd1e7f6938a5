package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrFull is returned (wrapped, with the pools or range concerned) when no free address or port is
// left where the request allows one to be taken.
var ErrFull = errors.New("no free address or port left")

// ErrAllocated is the sentinel that every conflict error (*ErrConflict, *ErrPortConflict) matches
// with errors.Is: the address or port is held by another owner that it cannot be shared with.
var ErrAllocated = errors.New("already allocated")

// ErrNotInRange says that a requested address is outside the candidate pools, or a port outside the
// NodePort range.
type ErrNotInRange struct {
	Addr  netip.Addr // the address requested, if the request was for an address
	Port  uint16     // the port requested, if the request was for a port
	Valid string     // what is accepted: the candidate pools, or the port range
}

func (e *ErrNotInRange) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("address %s is not in any candidate pool; it must belong to one of: %s", e.Addr, e.Valid)
	}
	return fmt.Sprintf("port %d is not in the NodePort range %s", e.Port, e.Valid)
}

// ErrConflict says that Owner cannot have Addr because Holder has it and the two cannot share it.
// It matches ErrAllocated.
type ErrConflict struct {
	Addr   netip.Addr
	Owner  string // who asked
	Holder string // who holds Addr (may equal Owner when a restore contradicts the owner's own holding)
	Reason string // why sharing is refused
	// Foreign says Holder is of another scope than Owner: the message, which reaches Owner, does
	// not name it.
	Foreign bool
}

func (e *ErrConflict) Error() string {
	holder := fmt.Sprintf("%q", e.Holder)
	if e.Foreign {
		holder = "an owner of another scope"
	}
	return fmt.Sprintf("address %s is held by %s and cannot also be given to %q: %s "+
		"(owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, "+
		"and the same scope unless the pool allows sharing across scopes)",
		e.Addr, holder, e.Owner, e.Reason)
}

func (e *ErrConflict) Unwrap() error { return ErrAllocated }

// ErrPortConflict says that Owner cannot have Port because Holder has it. Only the owner holding a
// NodePort may use it, for any number of protocols. It matches ErrAllocated.
type ErrPortConflict struct {
	Port   uint16
	Owner  string
	Holder string
}

func (e *ErrPortConflict) Error() string {
	return fmt.Sprintf("port %d is held by %q and cannot also be given to %q (a NodePort belongs to one owner, which may use it for several protocols)",
		e.Port, e.Holder, e.Owner)
}

func (e *ErrPortConflict) Unwrap() error { return ErrAllocated }

// ErrPoolOverlap says that two pools (or two entries of one pool) hand out a common address. Pools
// must be disjoint so that every address has exactly one pool.
type ErrPoolOverlap struct {
	Pool, Entry           string // the first pool and its CIDR or range, as declared
	OtherPool, OtherEntry string
}

func (e *ErrPoolOverlap) Error() string {
	return fmt.Sprintf("pool %q entry %s overlaps pool %q entry %s; pools must not share addresses",
		e.Pool, e.Entry, e.OtherPool, e.OtherEntry)
}

// ErrInvalidPool says what is wrong with one pool definition.
type ErrInvalidPool struct {
	Pool   string
	Reason string
}

func (e *ErrInvalidPool) Error() string {
	return fmt.Sprintf("invalid pool %q: %s", e.Pool, e.Reason)
}

// ErrUnknownPool says that a request named a pool the allocator does not have.
type ErrUnknownPool struct {
	Pool  string
	Known []string
}

func (e *ErrUnknownPool) Error() string {
	return fmt.Sprintf("unknown pool %q; known pools: %s", e.Pool, quoteList(e.Known))
}

// ErrInvalidRequest says what is wrong with an Assign, Restore or port request.
type ErrInvalidRequest struct {
	Owner  string
	Reason string
}

func (e *ErrInvalidRequest) Error() string {
	return fmt.Sprintf("invalid request for %q: %s", e.Owner, e.Reason)
}

// ErrInvalidPortRange says why a NodePort range was refused.
type ErrInvalidPortRange struct {
	Range  string
	Reason string
}

func (e *ErrInvalidPortRange) Error() string {
	return fmt.Sprintf("invalid port range %q: %s; want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 30000-32767",
		e.Range, e.Reason)
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
