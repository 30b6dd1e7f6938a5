package allocator

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Benchmarks use 198.18.0.0/16 (RFC 2544, benchmarking) and 2001:db8::/64.
//
// Why the allocation figures are fair: each iteration releases one random owner's address and
// assigns that owner again, so occupancy stays exactly at the figure in the benchmark name for the
// whole run (no drift as b.N grows, no setup inside the timed loop), and ns/op is the cost of one
// release plus one allocate-any. Both allocators run the same sequence of owners (the same seed),
// through the same kind of API (owner key in, address out, one mutex), in the same run.

var occupancies = []struct {
	name string
	n    int
}{{"1k", 1000}, {"10k", 10000}, {"60k", 60000}}

var slash16 = Pool{Name: "bench", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16")}}

func benchOwners(n int) []string {
	o := make([]string, n)
	for i := range o {
		o[i] = "bench/svc-" + strconv.Itoa(i)
	}
	return o
}

// churnOrder is the sequence of owners to release and re-assign, identical for every allocator.
func churnOrder(n int) []int32 {
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]int32, 1<<16)
	for i := range order {
		order[i] = int32(r.IntN(n))
	}
	return order
}

// assigner is what the churn loop needs from an allocator.
type assigner interface {
	// fill gives each owner an address, as assigning them one by one from empty would.
	fill(owners []string) error
	assign(owner string) error
	release(owner string)
}

type ours struct {
	a   *IPAllocator
	req Request
}

func (o *ours) assign(owner string) error {
	o.req.Owner = owner
	_, err := o.a.Assign(o.req)
	return err
}

func (o *ours) release(owner string) { o.a.Release(owner) }

func (o *ours) fill(owners []string) error {
	for _, w := range owners {
		if err := o.assign(w); err != nil {
			return err
		}
	}
	return nil
}

func newOurs(b *testing.B, pool Pool, f Family) *ours {
	a, err := NewIPAllocator([]Pool{pool})
	if err != nil {
		b.Fatal(err)
	}
	return &ours{a: a, req: Request{Pools: []string{pool.Name}, Families: []Family{f}}}
}

// linearScan is the baseline: the algorithm of MetalLB and kube-vip-cloud-provider, which walk the
// pool from its first address and take the first one not in the in-use map.
type linearScan struct {
	mu          sync.Mutex
	first, last netip.Addr
	inUse       map[netip.Addr]string
	byOwner     map[string]netip.Addr
}

func newLinearScan(p netip.Prefix) *linearScan {
	return &linearScan{first: p.Addr(), last: lastAddr(p), inUse: map[netip.Addr]string{}, byOwner: map[string]netip.Addr{}}
}

func (l *linearScan) assign(owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for x := l.first; ; x = x.Next() {
		if _, used := l.inUse[x]; !used {
			l.inUse[x] = owner
			l.byOwner[owner] = x
			return nil
		}
		if x == l.last {
			return ErrFull
		}
	}
}

// fill takes the first len(owners) addresses directly: the state n linear assigns would reach, in
// O(n) rather than O(n²) setup time.
func (l *linearScan) fill(owners []string) error {
	x := l.first
	for _, o := range owners {
		l.inUse[x] = o
		l.byOwner[o] = x
		x = x.Next()
	}
	return nil
}

func (l *linearScan) release(owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if x, ok := l.byOwner[owner]; ok {
		delete(l.inUse, x)
		delete(l.byOwner, owner)
	}
}

// churn fills a to n owners, then times b.N release+assign pairs at that occupancy.
func churn(b *testing.B, a assigner, n int) {
	owners := benchOwners(n)
	if err := a.fill(owners); err != nil {
		b.Fatal(err)
	}
	order := churnOrder(n)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; b.Loop(); i++ {
		o := owners[order[i&(len(order)-1)]]
		a.release(o)
		if err := a.assign(o); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// cpuMeter reports process CPU time per op ("cpu-ns/op"), which waiting for a busy machine's CPUs
// does not inflate as it does ns/op. It includes the GC's work on other threads.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{t, ok}
}

func (m cpuMeter) report(b *testing.B) {
	if t, ok := processCPU(); ok && m.ok && b.N > 0 {
		b.ReportMetric(float64(t-m.start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkAssign(b *testing.B) {
	for _, occ := range occupancies {
		b.Run("allocated="+occ.name, func(b *testing.B) {
			churn(b, newOurs(b, slash16, IPv4), occ.n)
		})
	}
}

func BenchmarkLinearScanAssign(b *testing.B) {
	for _, occ := range occupancies {
		b.Run("allocated="+occ.name, func(b *testing.B) {
			churn(b, newLinearScan(slash16.CIDRs[0]), occ.n)
		})
	}
}

// BenchmarkAssignIPv6Slash64 shows that a /64 costs what a /16 costs: no bitmap of 2^64 bits.
func BenchmarkAssignIPv6Slash64(b *testing.B) {
	b.Run("allocated=10k", func(b *testing.B) {
		churn(b, newOurs(b, Pool{Name: "six", CIDRs: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}, IPv6), 10000)
	})
}

// BenchmarkRestore10k restores 10,000 assignments at random addresses of a /16 (what a controller
// does on start-up) into a fresh allocator; one op is the whole restore.
func BenchmarkRestore10k(b *testing.B) {
	const n = 10000
	owners := benchOwners(n)
	r := rand.New(rand.NewPCG(3, 4))
	perm := r.Perm(65536)
	xs := make([][]netip.Addr, n)
	for i := range xs {
		xs[i] = []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(perm[i] >> 8), byte(perm[i])})}
	}
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		a, err := NewIPAllocator([]Pool{slash16})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m := startCPU()
		for i, o := range owners {
			if err := a.Restore(o, xs[i], Sharing{}); err != nil {
				b.Fatal(err)
			}
		}
		if t, ok := processCPU(); ok {
			cpu += t - m.start
		}
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkNodePortAllocateNext: one op releases a random held NodePort and picks a new one, with
// the default range 50% and 95% full.
func BenchmarkNodePortAllocateNext(b *testing.B) {
	for _, full := range []struct {
		name string
		pct  int
	}{{"50%", 50}, {"95%", 95}} {
		b.Run("full="+full.name, func(b *testing.B) {
			a, err := NewPortAllocator(DefaultNodePortRange)
			if err != nil {
				b.Fatal(err)
			}
			n := DefaultNodePortRange.Size() * full.pct / 100
			held := make([]uint16, n)
			for i := range held {
				if held[i], err = a.AllocateNext("bench/svc", TCP); err != nil {
					b.Fatal(err)
				}
			}
			order := churnOrder(n)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				j := order[i&(len(order)-1)]
				a.Release("bench/svc", TCP, held[j])
				p, err := a.AllocateNext("bench/svc", TCP)
				if errors.Is(err, ErrFull) || err != nil {
					b.Fatal(err)
				}
				held[j] = p
			}
			cpu.report(b)
		})
	}
}
