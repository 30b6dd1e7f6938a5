package proxy

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/knftables"
)

// plan collects the changes of a sync in the order a transaction must hold them: objects that
// rules refer to exist before the rules, and a chain is deleted only after the rules and
// elements that jump to it are gone.
type plan struct {
	addSets     []*knftables.Set
	addChains   []string
	flushChains []string
	rules       []*knftables.Rule
	delElems    []elem
	addElems    []elem
	delChains   []string
	delSets     []string
}

// diff adds the chain and set changes that turn old into new; either may be nil (a new or a
// deleted Service). Elements go through table.claim, since two Services may claim one.
func (p *plan) diff(old, new *svcState) {
	if old == nil {
		old = newSvcState()
	}
	if new == nil {
		new = newSvcState()
	}
	for _, name := range slices.Sorted(maps.Keys(new.affinity)) {
		if _, ok := old.affinity[name]; !ok {
			p.addSets = append(p.addSets, affinitySetObject(name, new.affinity[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(new.chains)) {
		rules := new.chains[name]
		oldRules, existed := old.chains[name]
		switch {
		case !existed:
			p.addChains = append(p.addChains, name)
		case slices.Equal(oldRules, rules):
			continue
		default:
			p.flushChains = append(p.flushChains, name)
		}
		for _, r := range rules {
			p.rules = append(p.rules, &knftables.Rule{Chain: name, Rule: r})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.chains)) {
		if _, ok := new.chains[name]; !ok {
			// Flushed first: a chain that still holds rules jumping elsewhere cannot be deleted
			// in the same transaction before those rules go.
			p.flushChains = append(p.flushChains, name)
			p.delChains = append(p.delChains, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.affinity)) {
		if _, ok := new.affinity[name]; !ok {
			p.delSets = append(p.delSets, name)
		}
	}
}

// elements tracks who claims each element of the shared maps and what the kernel holds. Two
// Services may claim one key (the same externalIP and port); the claimant whose name sorts first
// wins, whatever order the changes came in, so that partial syncs agree with a full sync.
type elements struct {
	claims    map[string]map[types.NamespacedName]elem
	installed map[string]elem
}

func newElements() elements {
	return elements{claims: map[string]map[types.NamespacedName]elem{}, installed: map[string]elem{}}
}

// claim replaces key's claims from old by those of new and returns the ids it touched.
func (es elements) claim(key types.NamespacedName, old, new *svcState, touched map[string]bool) {
	if old != nil {
		for id := range old.elems {
			delete(es.claims[id], key)
			if len(es.claims[id]) == 0 {
				delete(es.claims, id)
			}
			touched[id] = true
		}
	}
	if new != nil {
		for id, e := range new.elems {
			if es.claims[id] == nil {
				es.claims[id] = map[types.NamespacedName]elem{}
			}
			es.claims[id][key] = e
			touched[id] = true
		}
	}
}

// settle adds to p what makes the kernel hold each touched element's winner, and records it.
func (es elements) settle(p *plan, touched map[string]bool) {
	for _, id := range slices.Sorted(maps.Keys(touched)) {
		want, ok := elem{}, false
		if c := es.claims[id]; len(c) > 0 {
			want, ok = c[sortedKeys(c)[0]], true
		}
		have, had := es.installed[id]
		switch {
		case had && ok && have.value == want.value:
			continue
		case had:
			p.delElems = append(p.delElems, have)
			delete(es.installed, id)
		}
		if ok {
			p.addElems = append(p.addElems, want)
			es.installed[id] = want
		}
	}
}

func affinitySetObject(name string, timeout time.Duration) *knftables.Set {
	return &knftables.Set{Name: name, Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: &timeout, Type: "", TypeOf: ""}
}

func (e elem) object() *knftables.Element {
	el := &knftables.Element{Key: e.key}
	if e.value == "" {
		el.Set = e.set
	} else {
		el.Map = e.set
		el.Value = []string{e.value}
	}
	return el
}

// emit writes the plan into tx. addrType types the affinity sets.
func (p *plan) emit(tx *knftables.Transaction, addrType string) {
	for _, s := range p.addSets {
		s.Type = addrType
		tx.Add(s)
	}
	for _, c := range p.addChains {
		tx.Add(&knftables.Chain{Name: c})
	}
	for _, c := range p.flushChains {
		tx.Flush(&knftables.Chain{Name: c})
	}
	for _, r := range p.rules {
		tx.Add(r)
	}
	for _, e := range p.delElems {
		tx.Delete(e.object())
	}
	for _, e := range p.addElems {
		tx.Add(e.object())
	}
	for _, c := range p.delChains {
		tx.Delete(&knftables.Chain{Name: c})
	}
	for _, s := range p.delSets {
		tx.Delete(&knftables.Set{Name: s})
	}
}

// table is one family's frontdesk table: what the kernel holds, as far as we know, and the way to
// change it.
type table struct {
	fam     family
	nft     knftables.Interface
	skel    skeleton
	applied map[types.NamespacedName]*svcState
	elems   elements
	// rules, chains and vips count what applied holds, kept up to date per Service so that no
	// sync walks every Service to report them.
	rules, chains int
	vips          map[netip.Addr]int
	// dead and failOpen sum svcState.dead and svcState.failOpen over applied, for the metrics.
	dead, failOpen int
	// needFull is set at start and after any failure: the next sync rewrites the whole table
	// instead of trusting applied.
	needFull bool
}

func newTable(fam family, nft knftables.Interface, opts modelOptions) *table {
	return &table{fam: fam, nft: nft, skel: newSkeleton(fam, opts), needFull: true,
		applied: map[types.NamespacedName]*svcState{}, elems: newElements(), vips: map[netip.Addr]int{}}
}

// syncStats says what one sync sent, for metrics and logs.
type syncStats struct {
	full         bool
	transactions int
	operations   int
}

// partialSync sends the difference between applied and want for the Services in want (a nil
// value deletes the Service) as one transaction.
func (t *table) partialSync(ctx context.Context, want map[types.NamespacedName]*svcState) (syncStats, error) {
	var p plan
	// The claims are updated in place: if the transaction fails, needFull makes the next sync
	// rebuild them from scratch, so a half-updated claim set is never used.
	elems := t.elems
	touched := map[string]bool{}
	for _, key := range sortedKeys(want) {
		p.diff(t.applied[key], want[key])
		elems.claim(key, t.applied[key], want[key], touched)
	}
	elems.settle(&p, touched)
	tx := t.nft.NewTransaction()
	p.emit(tx, t.fam.addrType)
	st := syncStats{operations: tx.NumOperations()}
	if st.operations > 0 {
		st.transactions = 1
		if err := t.nft.Run(ctx, tx); err != nil {
			t.needFull = true
			return st, fmt.Errorf("%s table: partial sync of %d Services: %w", t.fam.nft, len(want), err)
		}
	}
	// Recorded even when the kernel needed nothing: the claims above already count these
	// states (a Service whose elements another already installed changes no rule), and a
	// later change must take back exactly what they claimed, or a deleted Service's claim
	// would keep its element in the kernel (found by FuzzNoServiceAnswersForAnotherServicesAddress).
	for key, s := range want {
		t.account(t.applied[key], s)
		if s == nil {
			delete(t.applied, key)
		} else {
			t.applied[key] = s
		}
	}
	return st, nil
}

// fullSync rewrites the whole table from all, the state of every Service. The first transaction
// flushes the table (but for the affinity sets still wanted, whose contents are the packet path's),
// lays the skeleton and deletes chains and sets no Service wants any more. On a table that serves
// no Service yet (a new node's cold start) the Services follow in transactions of at most chunk
// Services each, so that tens of thousands of Services never make one transaction that stalls
// the kernel (k8s #139328); there, a half-written table only means that some Services are served
// a moment later. A table that already serves (a restart, the periodic resync, a retry after a
// failure) is rewritten in one transaction instead: split, it would stop serving the Services of
// the later chunks between the first transaction's flush and their own.
// The table is never deleted: established connections keep their conntrack NAT throughout.
func (t *table) fullSync(ctx context.Context, all map[types.NamespacedName]*svcState, chunk int) (syncStats, error) {
	st := syncStats{full: true}
	t.needFull = true
	// A failure before the first transaction went through leaves the kernel as it was, and
	// applied must then say so again (prev): the next sync reads the old states from it to find
	// the conntrack entries its change makes stale, and an empty one made every UDP Service look
	// new, just given its first endpoint, whose flows are all cleared
	// (TestFailedFullSyncKeepsUDPFlows). The counters and claims reset here are rebuilt by the
	// full sync that follows any failure.
	prev := t.applied
	t.applied = map[types.NamespacedName]*svcState{}
	t.elems = newElements()
	t.rules, t.chains, t.vips, t.dead, t.failOpen = 0, 0, map[netip.Addr]int{}, 0, 0

	// keep are the affinity sets a Service still wants: their elements (client → endpoint, with
	// a timeout) are written by the packet path, not by us, so flushing them would send every
	// affine client to a fresh random endpoint at each resync and restart. A changed affinity
	// timeout changes the set's name (affinitySet), so a kept set always has the wanted timeout.
	wantChains, wantSets, keep := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for name := range t.skel.chains {
		wantChains[name] = true
	}
	for _, s := range t.skel.sets {
		wantSets[s.Name] = true
	}
	for _, s := range all {
		for name := range s.chains {
			wantChains[name] = true
		}
		for name := range s.affinity {
			wantSets[name] = true
			keep[name] = true
		}
	}
	// Listing is for full syncs only: partial syncs trust applied and never read the table back.
	have, err := t.nft.ListAll(ctx)
	if err != nil && !knftables.IsNotFound(err) {
		t.applied = prev
		return st, fmt.Errorf("%s table: listing its objects: %w", t.fam.nft, err)
	}
	haveChains, haveSets, haveMaps := have["chain"], have["set"], have["map"]

	tx := t.nft.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("frontdesk node proxy; rules written by frontdesk only")})
	// Each object is flushed by name rather than with `flush table`: the same transaction then
	// deletes the stale ones, which the kernel refuses while rules still refer to them.
	for _, c := range haveChains {
		tx.Flush(&knftables.Chain{Name: c})
	}
	for _, s := range haveSets {
		if !keep[s] {
			tx.Flush(&knftables.Set{Name: s})
		}
	}
	for _, m := range haveMaps {
		tx.Flush(&knftables.Map{Name: m})
	}
	for _, c := range haveChains {
		if !wantChains[c] {
			tx.Delete(&knftables.Chain{Name: c})
		}
	}
	for _, s := range haveSets {
		if !wantSets[s] {
			tx.Delete(&knftables.Set{Name: s})
		}
	}
	t.emitSkeleton(tx)

	keys := sortedKeys(all)
	if t.serving(haveChains) {
		chunk = max(1, len(keys))
	}
	for start := 0; ; start += chunk {
		end := min(start+chunk, len(keys))
		var p plan
		touched := map[string]bool{}
		for _, key := range keys[start:end] {
			p.diff(nil, all[key])
			t.elems.claim(key, nil, all[key], touched)
		}
		t.elems.settle(&p, touched)
		p.emit(tx, t.fam.addrType)
		st.operations += tx.NumOperations()
		st.transactions++
		if err := t.nft.Run(ctx, tx); err != nil {
			if st.transactions == 1 {
				t.applied = prev // refused whole: nothing was flushed
			}
			return st, fmt.Errorf("%s table: full sync, transaction %d (Services %d to %d of %d): %w",
				t.fam.nft, st.transactions, start, end, len(keys), err)
		}
		for _, key := range keys[start:end] {
			t.account(nil, all[key])
			t.applied[key] = all[key]
		}
		if end >= len(keys) {
			break
		}
		tx = t.nft.NewTransaction()
	}
	t.needFull = false
	return st, nil
}

// serving says whether a table holding these chains forwards any Service: it has a chain
// beyond the skeleton's.
func (t *table) serving(chains []string) bool {
	for _, c := range chains {
		if _, ok := t.skel.chains[c]; !ok {
			return true
		}
	}
	return false
}

func (t *table) emitSkeleton(tx *knftables.Transaction) {
	for _, m := range t.skel.maps {
		tx.Add(m)
	}
	for _, s := range t.skel.sets {
		tx.Add(s)
	}
	hooked := map[string]bool{}
	for _, b := range baseChains {
		hooked[b.name] = true
		tx.Add(&knftables.Chain{Name: b.name, Type: knftables.PtrTo(b.typ), Hook: knftables.PtrTo(b.hook),
			Priority: knftables.PtrTo(b.priority)})
	}
	for _, name := range slices.Sorted(maps.Keys(t.skel.chains)) {
		if !hooked[name] {
			tx.Add(&knftables.Chain{Name: name})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.skel.chains)) {
		for _, r := range t.skel.chains[name] {
			tx.Add(&knftables.Rule{Chain: name, Rule: r})
		}
	}
	for _, e := range t.skel.elems {
		tx.Add(e.object())
	}
}

func sortedKeys[V any](m map[types.NamespacedName]V) []types.NamespacedName {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		if a.Namespace != b.Namespace {
			if a.Namespace < b.Namespace {
				return -1
			}
			return 1
		}
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return keys
}

// account moves the counters from old to new for one Service.
func (t *table) account(old, new *svcState) {
	for _, s := range []*svcState{old, new} {
		if s == nil {
			continue
		}
		sign := 1
		if s == old {
			sign = -1
		}
		t.chains += sign * len(s.chains)
		t.dead += sign * len(s.dead)
		t.failOpen += sign * s.failOpen
		for _, r := range s.chains {
			t.rules += sign * len(r)
		}
		for _, a := range s.vips {
			t.vips[a] += sign
			if t.vips[a] == 0 {
				delete(t.vips, a)
			}
		}
	}
}
