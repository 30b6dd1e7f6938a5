package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// Goroutines assign, re-assign, restore and release concurrently in a small pool (so they collide
// and hit ErrFull); each claims its addresses in a shared ledger that fails on any double holding.
// Run with -race. Afterwards the invariants hold and the counts match the ledger.
func TestIPAllocatorConcurrent(t *testing.T) {
	a, err := NewIPAllocator([]Pool{
		{Name: "p", CIDRs: []netip.Prefix{prefix("192.0.2.0/26"), prefix("2001:db8::/122")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ledger sync.Map // netip.Addr -> owner, for owners without a sharing key
	const workers, rounds = 8, 400
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held := map[string][]netip.Addr{}
			for i := range rounds {
				owner := fmt.Sprintf("ns/w%d-%d", w, i%12)
				if i%5 == 4 {
					// Another pool layout now and then: nothing may move.
					if i%10 == 9 {
						if err := a.SetPools(a.Pools()); err != nil {
							errs <- err
							return
						}
					}
					for _, x := range held[owner] {
						ledger.Delete(x)
					}
					delete(held, owner)
					a.Release(owner)
					continue
				}
				for _, x := range held[owner] {
					ledger.Delete(x)
				}
				res, err := a.Assign(Request{Owner: owner, Pools: []string{"p"}, Families: []Family{IPv4, IPv6}})
				if errors.Is(err, ErrFull) {
					// All or nothing: the owner kept what it had.
					for _, x := range held[owner] {
						if prev, dup := ledger.LoadOrStore(x, owner); dup {
							errs <- fmt.Errorf("%v held by %v and %v", x, prev, owner)
							return
						}
					}
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				held[owner] = nil
				for _, ad := range res.Addresses {
					if prev, dup := ledger.LoadOrStore(ad.Addr, owner); dup {
						errs <- fmt.Errorf("%v given to %v while %v holds it", ad.Addr, owner, prev)
						return
					}
					held[owner] = append(held[owner], ad.Addr)
				}
			}
		}()
	}
	// A reader polls the whole-state queries meanwhile.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				a.Stats()
				a.Orphans()
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := a.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	n := 0
	ledger.Range(func(k, v any) bool {
		n++
		if got := a.Addresses(v.(string)); !containsAddr(got, k.(netip.Addr)) {
			t.Errorf("ledger says %v holds %v; allocator says %v", v, k, got)
		}
		return true
	})
	var assigned uint64
	for _, s := range a.Stats() {
		assigned += s.Assigned
	}
	if assigned != uint64(n) {
		t.Errorf("allocator counts %d assigned, ledger %d", assigned, n)
	}
}

func containsAddr(xs []netip.Addr, x netip.Addr) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestPortAllocatorConcurrent(t *testing.T) {
	a, err := NewPortAllocator(PortRange{30000, 30099})
	if err != nil {
		t.Fatal(err)
	}
	var ledger sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []uint16
			for i := range 2000 {
				owner := fmt.Sprintf("ns/w%d", w)
				if i%3 == 2 && len(mine) > 0 {
					p := mine[0]
					mine = mine[1:]
					ledger.Delete(p)
					if !a.Release(owner, TCP, p) {
						errs <- fmt.Errorf("%s could not release %d", owner, p)
						return
					}
					continue
				}
				p, err := a.AllocateNext(owner, TCP)
				if errors.Is(err, ErrFull) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if prev, dup := ledger.LoadOrStore(p, owner); dup {
					errs <- fmt.Errorf("port %d given to %s while %v holds it", p, owner, prev)
					return
				}
				mine = append(mine, p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := a.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	n := 0
	ledger.Range(func(k, v any) bool { n++; return true })
	if got := a.Stats().Used; got != n {
		t.Errorf("Used = %d, ledger has %d", got, n)
	}
}
