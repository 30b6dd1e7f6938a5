package baremetal

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// poolView is an IPPool as the provider uses it: parsed once per pool change, not per Service.
type poolView struct {
	name       string
	created    metav1.Time
	priority   int32
	autoAssign bool
	def        allocator.Pool
	namespaces []string
	nsSel      []labels.Selector
	svcSel     []labels.Selector
	// invalid is why the pool hands out nothing ("" when it is valid): a malformed entry or selector
	// that slipped past the CRD's validation (an older CRD), or an overlap with an older pool.
	invalid       string
	invalidReason string // one of the v1alpha1.IPPoolReason* constants
}

// viewPool parses an IPPool. Parse problems make the view invalid rather than failing: the pool's
// status says what is wrong and the other pools keep working.
func viewPool(p *v1alpha1.IPPool) poolView {
	v := poolView{name: p.Name, created: p.CreationTimestamp, priority: p.Spec.Priority,
		autoAssign: p.Spec.AutoAssign == nil || *p.Spec.AutoAssign, namespaces: p.Spec.Namespaces}
	v.def = allocator.Pool{Name: p.Name, AvoidBuggyIPs: p.Spec.AvoidBuggyIPs, ShareAcrossScopes: p.Spec.AllowCrossNamespaceSharing}
	// The same rules as the CRD's validation; they matter here for objects the API server never
	// checked (stored before a rule existed, or kept unchanged through an update).
	entries, err := v1alpha1.ParseAddresses(p.Spec.Addresses)
	if err != nil {
		v.invalid, v.invalidReason = "spec.addresses: "+err.Error(), v1alpha1.IPPoolReasonInvalidAddresses
		return v
	}
	for _, e := range entries {
		if e.Prefix.IsValid() {
			v.def.CIDRs = append(v.def.CIDRs, e.Prefix)
		} else {
			v.def.Ranges = append(v.def.Ranges, allocator.Range{First: e.First, Last: e.Last})
		}
	}
	for _, s := range p.Spec.NamespaceSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			v.invalid, v.invalidReason = "spec.namespaceSelectors: "+err.Error(), v1alpha1.IPPoolReasonInvalidSelector
			return v
		}
		v.nsSel = append(v.nsSel, sel)
	}
	for _, s := range p.Spec.ServiceSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			v.invalid, v.invalidReason = "spec.serviceSelectors: "+err.Error(), v1alpha1.IPPoolReasonInvalidSelector
			return v
		}
		v.svcSel = append(v.svcSel, sel)
	}
	return v
}

// admitPools decides which pools are in force: every valid pool that overlaps no older pool. The
// older pool keeps its addresses so that a new, overlapping pool can never take addresses away from
// Services already using them. It returns the views with invalid set where a pool is refused, and
// the allocator definitions of the admitted pools.
func admitPools(views []poolView) ([]poolView, []allocator.Pool) {
	views = slices.Clone(views)
	slices.SortFunc(views, func(a, b poolView) int {
		if c := a.created.Compare(b.created.Time); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	var admitted []allocator.Pool
	for i := range views {
		v := &views[i]
		if v.invalid != "" {
			continue
		}
		if _, err := allocator.NewIPAllocator(append(slices.Clone(admitted), v.def)); err != nil {
			v.invalid, v.invalidReason = describePoolError(v.name, err)
			continue
		}
		admitted = append(admitted, v.def)
	}
	return views, admitted
}

func describePoolError(name string, err error) (msg, reason string) {
	var ov *allocator.ErrPoolOverlap
	if errors.As(err, &ov) {
		other, otherEntry, entry := ov.OtherPool, ov.OtherEntry, ov.Entry
		if other == name { // the error may name the pools either way round
			other, otherEntry, entry = ov.Pool, ov.Entry, ov.OtherEntry
		}
		if other == name {
			return fmt.Sprintf("entries %s and %s overlap", entry, otherEntry), v1alpha1.IPPoolReasonOverlap
		}
		return fmt.Sprintf("entry %s overlaps entry %s of the older pool %q; this pool hands out no address until the overlap is removed",
			entry, otherEntry, other), v1alpha1.IPPoolReasonOverlap
	}
	return err.Error(), v1alpha1.IPPoolReasonInvalidAddresses
}

// candidates returns the pools svc may draw from, in the order to try them: lowest priority number
// first, then by name. A named pool is the only candidate; without one, pools with autoAssign off
// are candidates only when the Service asks for specific addresses (the admin reserved them for
// explicit requests). nsLabels are the labels of the Service's namespace.
func candidates(views []poolView, svc *v1.Service, nsLabels labels.Set, w wishes) ([]string, error) {
	if w.pool != "" {
		for _, v := range views {
			if v.name != w.pool {
				continue
			}
			if v.invalid != "" {
				return nil, &noPoolError{fmt.Sprintf("IPPool %q named by %s is not in force: %s", v.name, AnnotationIPPool, v.invalid)}
			}
			if why := v.refuses(svc, nsLabels); why != "" {
				return nil, &noPoolError{fmt.Sprintf("IPPool %q named by %s does not serve this Service: %s", v.name, AnnotationIPPool, why)}
			}
			return []string{v.name}, nil
		}
		return nil, &noPoolError{fmt.Sprintf("IPPool %q named by %s does not exist; pools this Service may use: %s", w.pool, AnnotationIPPool, poolNames(usable(views, svc, nsLabels)))}
	}
	var ok []poolView
	var refusals []string
	reserved := 0
	for _, v := range views {
		switch why := v.refuses(svc, nsLabels); {
		case v.invalid != "":
		case why != "":
			// Neither the name nor the restrictions of a pool kept for other namespaces or
			// Services are this Service's owner's to read (issue 17): only how many.
			reserved++
		case v.autoAssign || len(w.addrs) > 0:
			ok = append(ok, v)
		default:
			refusals = append(refusals, fmt.Sprintf("%q: autoAssign is off (name it with %s)", v.name, AnnotationIPPool))
		}
	}
	if len(ok) == 0 {
		if len(views) == 0 {
			return nil, &noPoolError{"no IPPool exists: create an IPPool (frontdesk.dev/v1alpha1) with addresses for LoadBalancer Services"}
		}
		if reserved > 0 {
			refusals = append(refusals, fmt.Sprintf("%d reserved for other namespaces or Services", reserved))
		}
		return nil, &noPoolError{"no IPPool may serve this Service: " + strings.Join(refusals, "; ")}
	}
	slices.SortFunc(ok, func(a, b poolView) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), strings.Compare(a.name, b.name))
	})
	names := make([]string, len(ok))
	for i, v := range ok {
		names[i] = v.name
	}
	return names, nil
}

// usable are the valid pools whose restrictions admit svc.
func usable(views []poolView, svc *v1.Service, nsLabels labels.Set) []poolView {
	var out []poolView
	for _, v := range views {
		if v.invalid == "" && v.refuses(svc, nsLabels) == "" {
			out = append(out, v)
		}
	}
	return out
}

// refuses says why the pool's namespace and Service restrictions exclude svc ("" if they do not).
func (v poolView) refuses(svc *v1.Service, nsLabels labels.Set) string {
	if len(v.namespaces) > 0 || len(v.nsSel) > 0 {
		in := slices.Contains(v.namespaces, svc.Namespace)
		for _, s := range v.nsSel {
			in = in || s.Matches(nsLabels)
		}
		if !in {
			return fmt.Sprintf("namespace %q is neither listed in spec.namespaces nor matched by spec.namespaceSelectors", svc.Namespace)
		}
	}
	if len(v.svcSel) > 0 {
		set := labels.Set(svc.Labels)
		for _, s := range v.svcSel {
			if s.Matches(set) {
				return ""
			}
		}
		return "the Service's labels match none of spec.serviceSelectors"
	}
	return ""
}

func poolNames(views []poolView) string {
	if len(views) == 0 {
		return "(none)"
	}
	n := make([]string, len(views))
	for i, v := range views {
		n[i] = fmt.Sprintf("%q", v.name)
	}
	return strings.Join(n, ", ")
}

// noPoolError says why no pool may serve a Service.
type noPoolError struct{ msg string }

func (e *noPoolError) Error() string { return e.msg }

// poolState holds the pools in force, shared by the load balancer (reads on every Ensure) and the
// pool watcher (writes on every IPPool change), and wakes the pool status writer.
type poolState struct {
	mu   sync.RWMutex
	all  []poolView
	wake func() // the status writer's runner's Run
}

func newPoolState(wake func()) *poolState { return &poolState{wake: wake} }

func (p *poolState) views() []poolView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.all
}

func (p *poolState) set(v []poolView) {
	p.mu.Lock()
	p.all = v
	p.mu.Unlock()
	p.changed()
}

// changed asks the status writer for a pass; calls coalesce while one is pending.
func (p *poolState) changed() { p.wake() }
