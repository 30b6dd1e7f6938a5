package allocator

import "net/netip"

// segment is one contiguous range of addresses of a pool: a CIDR (less the addresses AvoidBuggyIPs
// skips) or an explicit range. It finds a free address in O(1) amortised without a bitmap, so its
// memory does not grow with its size (a /64 costs what a /24 costs).
//
// State: a cursor that only moves forward through the range, and a FIFO queue of released
// addresses. Invariants (checked by the tests after every step):
//
//  1. Every free address below the cursor is in queue[head:], exactly once.
//  2. No address is in queue[head:] twice. An entry may be stale: its address was taken by an
//     explicit request or a restore after it was queued; that address's state has stale set, and
//     no other held address has.
//
// take therefore serves the queue first (dropping stale entries) and then moves the cursor forward,
// skipping held addresses; when both are exhausted the segment is full.
//
// Cost: each queue entry is pushed once per release below the cursor and popped once, and the
// cursor only moves forward (it returns to first only when the segment becomes empty), so over any
// sequence of operations the work of take is at most (allocations + releases + explicit holds):
// O(1) amortised per operation. A single take may still skip a long run of restored addresses once.
//
// Memory: the cursor moves only when no address below it is free, so cursor-first never exceeds
// the peak number of held addresses, and by invariant 2 neither does the queue. Everything is
// dropped when the segment empties.
type segment struct {
	pool  *pool
	entry string // the CIDR or range as declared, for messages
	first netip.Addr
	last  netip.Addr
	span  u128   // last - first: the size minus one, which fits where the size (2^128) might not
	count uint64 // held addresses of this segment

	cursor  netip.Addr
	done    bool // the cursor went past last
	queue   []netip.Addr
	head    int      // queue[:head] has been consumed
	adopted *segment // the segment of the previous pool set whose cursor and queue this one took
	steps   uint64   // loop iterations of take so far: the tests check the amortised bound with it
}

func newSegment(p *pool, entry string, first, last netip.Addr) *segment {
	return &segment{
		pool:   p,
		entry:  entry,
		first:  first,
		last:   last,
		span:   u128Of(last).sub(u128Of(first)),
		cursor: first,
	}
}

func (s *segment) contains(a netip.Addr) bool {
	return s.first.Compare(a) <= 0 && a.Compare(s.last) <= 0
}

// below says whether the cursor has passed a.
func (s *segment) below(a netip.Addr) bool {
	return s.done || a.Less(s.cursor)
}

func (s *segment) full() bool {
	return s.count > 0 && s.span.hi == 0 && s.span.lo == s.count-1
}

// take returns a free address of the segment, or false if it has none. The caller must hold the
// address right away (which counts it).
func (s *segment) take(held map[netip.Addr]*addrState) (netip.Addr, bool) {
	if s.full() {
		return netip.Addr{}, false
	}
	for s.head < len(s.queue) {
		s.steps++
		a := s.queue[s.head]
		s.head++
		st := held[a]
		if st == nil {
			s.compact()
			return a, true
		}
		st.stale = false // the stale entry is gone
	}
	s.queue, s.head = s.queue[:0], 0
	for !s.done {
		s.steps++
		a := s.cursor
		if a == s.last {
			s.done = true
		} else {
			s.cursor = a.Next()
		}
		if held[a] == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// compact drops the consumed head of the queue once it is at least half of the slice, so the
// queue's memory follows its live length.
func (s *segment) compact() {
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
		return
	}
	if s.head >= 64 && 2*s.head >= len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// hold counts a newly held address of the segment. An address held by explicit request below the
// cursor was free, so it is in the queue (invariant 1): its entry becomes stale.
func (s *segment) hold(a netip.Addr, st *addrState, taken bool) {
	s.count++
	st.stale = !taken && s.below(a)
}

// release uncounts a, whose last holder left, and makes it available to take again.
func (s *segment) release(a netip.Addr, st *addrState) {
	s.count--
	if s.count == 0 {
		// Empty: restart from a clean state so that memory returns to nothing.
		s.cursor, s.done, s.queue, s.head = s.first, false, nil, 0
		return
	}
	if !s.below(a) || st.stale {
		return // the cursor will reach it, or its entry is still queued
	}
	s.queue = append(s.queue, a)
}

// adopt takes over the cursor and queue of the segment that had the same range before a pool
// replacement, so an unchanged range does not rescan its held addresses.
func (s *segment) adopt(old *segment) {
	s.cursor, s.done, s.queue, s.head = old.cursor, old.done, old.queue, old.head
	s.adopted = old
}
