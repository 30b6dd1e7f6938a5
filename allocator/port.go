package allocator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// PortRange is an inclusive range of ports, like the API server's --service-node-port-range.
type PortRange struct {
	First, Last uint16
}

// DefaultNodePortRange is the API server's default NodePort range.
var DefaultNodePortRange = PortRange{First: 30000, Last: 32767}

// ParsePortRange parses "FIRST-LAST" (or a single port "N").
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	first, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	last, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil {
		return PortRange{}, &ErrInvalidPortRange{Range: s, Reason: "not two port numbers"}
	}
	r := PortRange{First: uint16(first), Last: uint16(last)}
	if err := r.validate(); err != nil {
		return PortRange{}, err
	}
	return r, nil
}

func (r PortRange) validate() error {
	switch {
	case r.First == 0:
		return &ErrInvalidPortRange{Range: r.String(), Reason: "port 0 is not a port"}
	case r.Last < r.First:
		return &ErrInvalidPortRange{Range: r.String(), Reason: "it ends before it starts"}
	}
	return nil
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.Last) - int(r.First) + 1 }

// Contains says whether p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.First <= p && p <= r.Last }

// StaticBandSize is the number of ports at the bottom of a range of size ports that dynamic picks
// avoid while the rest has room, keeping them for explicitly requested NodePorts: the API server's
// min(max(16, size/32), 128), or 0 for a range of 16 ports or fewer (KEP-3668). It is 86 for
// 30000-32767.
func StaticBandSize(size int) int {
	const least, most, step = 16, 128, 32
	if size <= least {
		return 0
	}
	return min(max(least, size/step), most)
}

// PortAllocator hands out NodePorts with the API server's semantics: one owner per port number,
// whatever the protocol (the owner, one Service, may use the port for TCP and UDP at once); random
// dynamic picks from the upper band first, then from the static band; explicit requests anywhere
// in the range. It is safe for concurrent use.
//
// Every operation is O(1): each band keeps its free ports in a dense slice with a position index, so
// a uniformly random free port is one random index, and taking or freeing a given port is a swap.
type PortAllocator struct {
	mu      sync.Mutex
	r       PortRange
	static  int                    // ports [First, First+static) form the static band
	holders []portHolder           // by offset from First; owner "" when free
	free    [2][]uint16            // free offsets: [0] the static band, [1] the dynamic band
	pos     []int32                // pos[offset]: index in its band's free slice, -1 when held
	outside map[uint16]*portHolder // restored ports outside the range
	byOwner map[string][]uint16    // ports (in or outside the range) per owner, unordered
	rng     *rand.Rand
}

type portHolder struct {
	owner  string
	protos protoSet
	idx    int32 // index of the port in byOwner[owner], so freeing it is a swap
}

// NewPortAllocator returns an empty allocator over r.
func NewPortAllocator(r PortRange) (*PortAllocator, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	n := r.Size()
	a := &PortAllocator{
		r:       r,
		static:  StaticBandSize(n),
		holders: make([]portHolder, n),
		pos:     make([]int32, n),
		outside: make(map[uint16]*portHolder),
		byOwner: make(map[string][]uint16),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	for off := range n {
		b := a.band(off)
		a.pos[off] = int32(len(a.free[b]))
		a.free[b] = append(a.free[b], uint16(off))
	}
	return a, nil
}

// Range returns the range the allocator serves.
func (a *PortAllocator) Range() PortRange { return a.r }

func (a *PortAllocator) band(off int) int {
	if off < a.static {
		return 0
	}
	return 1
}

func (a *PortAllocator) check(owner string, proto Protocol) error {
	if owner == "" {
		return &ErrInvalidRequest{Owner: owner, Reason: "the owner is empty; name it, e.g. namespace/name"}
	}
	if proto.bit() == 0 {
		return &ErrInvalidRequest{Owner: owner, Reason: fmt.Sprintf("protocol %q; want TCP, UDP or SCTP", proto)}
	}
	return nil
}

// Allocate gives owner the requested port for proto. Holding the port already (for any protocol)
// is fine: proto is added. Errors: *ErrNotInRange, *ErrPortConflict (matches ErrAllocated),
// *ErrInvalidRequest.
func (a *PortAllocator) Allocate(owner string, proto Protocol, port uint16) error {
	if err := a.check(owner, proto); err != nil {
		return err
	}
	if !a.r.Contains(port) {
		return &ErrNotInRange{Port: port, Valid: a.r.String()}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.claim(owner, proto, port)
}

// AllocateNext gives owner a random free port for proto: from the dynamic (upper) band while it has
// one, else from the static band. ErrFull (wrapped) when the range is exhausted.
func (a *PortAllocator) AllocateNext(owner string, proto Protocol) (uint16, error) {
	if err := a.check(owner, proto); err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for b := 1; b >= 0; b-- {
		if n := len(a.free[b]); n > 0 {
			port := a.r.First + a.free[b][a.rng.IntN(n)]
			if err := a.claim(owner, proto, port); err != nil {
				panic(err) // unreachable: the port came from a free list
			}
			return port, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d ports of NodePort range %s are in use", ErrFull, a.r.Size(), a.r)
}

// Restore records that owner uses port for proto, as read back from existing Services; call it for
// every Service before any AllocateNext. Unlike Allocate it accepts a port outside the range (after
// the range was changed, say): that port is tracked, reported by Stats().OutOfRange and Ports, and
// kept from other owners, but does not count as used. A port held by another owner is a
// *ErrPortConflict naming both, and nothing changes.
func (a *PortAllocator) Restore(owner string, proto Protocol, port uint16) error {
	if err := a.check(owner, proto); err != nil {
		return err
	}
	if port == 0 {
		return &ErrInvalidRequest{Owner: owner, Reason: "port 0 is not a port"}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.r.Contains(port) {
		return a.claim(owner, proto, port)
	}
	h := a.outside[port]
	switch {
	case h == nil:
		a.outside[port] = &portHolder{owner: owner, protos: proto.bit(), idx: int32(len(a.byOwner[owner]))}
		a.byOwner[owner] = append(a.byOwner[owner], port)
	case h.owner != owner:
		return &ErrPortConflict{Port: port, Owner: owner, Holder: h.owner}
	default:
		h.protos |= proto.bit()
	}
	return nil
}

// claim gives owner port (in range) for proto, or reports the holder.
func (a *PortAllocator) claim(owner string, proto Protocol, port uint16) error {
	off := int(port - a.r.First)
	h := &a.holders[off]
	switch {
	case h.owner == "":
		b := a.band(off)
		i, last := a.pos[off], len(a.free[b])-1
		moved := a.free[b][last]
		a.free[b][i] = moved
		a.pos[moved] = i
		a.free[b] = a.free[b][:last]
		a.pos[off] = -1
		*h = portHolder{owner: owner, protos: proto.bit(), idx: int32(len(a.byOwner[owner]))}
		a.byOwner[owner] = append(a.byOwner[owner], port)
	case h.owner != owner:
		return &ErrPortConflict{Port: port, Owner: owner, Holder: h.owner}
	default:
		h.protos |= proto.bit()
	}
	return nil
}

// Release drops proto from owner's use of port; the port is free once no protocol is left. It does
// nothing (and returns false) unless owner holds port for proto.
func (a *PortAllocator) Release(owner string, proto Protocol, port uint16) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.holderOf(port)
	if h == nil || h.owner != owner || h.protos&proto.bit() == 0 {
		return false
	}
	h.protos &^= proto.bit()
	if h.protos == 0 {
		a.free1(port, h)
	}
	return true
}

// ReleaseOwner frees every port owner holds and returns them, sorted.
func (a *PortAllocator) ReleaseOwner(owner string) []uint16 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ports := slices.Clone(a.byOwner[owner])
	for _, p := range ports {
		a.free1(p, a.holderOf(p))
	}
	slices.Sort(ports)
	return ports
}

func (a *PortAllocator) holderOf(port uint16) *portHolder {
	if a.r.Contains(port) {
		if h := &a.holders[port-a.r.First]; h.owner != "" {
			return h
		}
		return nil
	}
	return a.outside[port]
}

// free1 frees port, held as h.
func (a *PortAllocator) free1(port uint16, h *portHolder) {
	ps := a.byOwner[h.owner]
	last := len(ps) - 1
	if moved := ps[last]; moved != port {
		ps[h.idx] = moved
		a.holderOf(moved).idx = h.idx
	}
	if last == 0 {
		delete(a.byOwner, h.owner)
	} else {
		a.byOwner[h.owner] = ps[:last]
	}
	if !a.r.Contains(port) {
		delete(a.outside, port)
		return
	}
	off := int(port - a.r.First)
	a.holders[off] = portHolder{}
	b := a.band(off)
	a.pos[off] = int32(len(a.free[b]))
	a.free[b] = append(a.free[b], uint16(off))
}

// Holder returns who holds port and for which protocols (TCP, UDP, SCTP order).
func (a *PortAllocator) Holder(port uint16) (owner string, protos []Protocol, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.holderOf(port)
	if h == nil {
		return "", nil, false
	}
	for _, p := range []Protocol{TCP, UDP, SCTP} {
		if h.protos&p.bit() != 0 {
			protos = append(protos, p)
		}
	}
	return h.owner, protos, true
}

// Ports returns the ports owner holds, sorted.
func (a *PortAllocator) Ports(owner string) []uint16 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := slices.Clone(a.byOwner[owner])
	slices.Sort(ps)
	return ps
}

// PortStats counts NodePorts, for usage and exhaustion metrics.
type PortStats struct {
	Range      PortRange
	Size       int // ports in the range
	StaticBand int // ports at the bottom of the range kept for explicit requests
	Used       int // ports of the range in use
	Free       int // Size - Used
	StaticUsed int // of Used, ports in the static band
	OutOfRange int // restored ports outside the range (not in Used)
}

// Stats returns the current counts.
func (a *PortAllocator) Stats() PortStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	free := len(a.free[0]) + len(a.free[1])
	return PortStats{
		Range:      a.r,
		Size:       a.r.Size(),
		StaticBand: a.static,
		Used:       a.r.Size() - free,
		Free:       free,
		StaticUsed: a.static - len(a.free[0]),
		OutOfRange: len(a.outside),
	}
}
