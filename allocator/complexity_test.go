package allocator

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// The work of finding a free address does not grow with occupancy: over a long run of random
// releases, explicit requests, restores and allocations in a /16 at 1k, 10k and 60k held, take
// loops fewer than 3 times per allocation on average (the amortised bound of segment). Wall-clock
// figures are in the benchmarks; this counts steps, which a loaded machine cannot blur.
func TestTakeStepsAreAmortisedConstant(t *testing.T) {
	for _, n := range []int{1000, 10000, 60000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			a, err := NewIPAllocator([]Pool{slash16})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(uint64(n), 7))
			// Half restored at random addresses (the cursor must skip them), half allocated.
			perm := r.Perm(65536)
			owners := make([]string, n)
			for i := range owners {
				owners[i] = "ns/svc-" + strconv.Itoa(i)
				if i%2 == 0 {
					x := netip.AddrFrom4([4]byte{198, 18, byte(perm[i] >> 8), byte(perm[i])})
					if err := a.Restore(owners[i], []netip.Addr{x}, Sharing{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			allocs := 0
			for i := range owners {
				if i%2 == 1 {
					if _, err := a.Assign(v4(owners[i], "bench")); err != nil {
						t.Fatal(err)
					}
					allocs++
				}
			}
			for range 20000 {
				o := owners[r.IntN(n)]
				a.Release(o)
				req := v4(o, "bench")
				if r.IntN(10) == 0 {
					// An explicit request for a random address, which may be free or queued.
					req.Addresses = []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(256)), byte(r.IntN(256))})}
				}
				if _, err := a.Assign(req); err != nil && req.Addresses == nil {
					t.Fatal(err)
				} else if err != nil {
					req.Addresses = nil
					if _, err := a.Assign(req); err != nil {
						t.Fatal(err)
					}
				}
				if req.Addresses == nil {
					allocs++
				}
			}
			steps := a.pools.segs[0][0].steps
			if per := float64(steps) / float64(allocs); per > 3 {
				t.Errorf("%d take steps for %d allocations: %.2f per allocation, want <= 3", steps, allocs, per)
			} else {
				t.Logf("%d held: %.2f take steps per allocation", n, per)
			}
			if err := a.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
