package inspect

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// PoolUse is one IPPool: its capacity and use per family, as the controller writes them in its
// status, and the Services holding its addresses, from the IPAllocations.
type PoolUse struct {
	Name       string             `json:"name"`
	Families   []FamilyUse        `json:"families"`
	Services   []string           `json:"services"` // namespace/name, sorted
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FamilyUse is one family's capacity (a decimal string: IPv6 pools exceed any integer) and the
// addresses held.
type FamilyUse struct {
	Family   string `json:"family"`
	Capacity string `json:"capacity"`
	Assigned int32  `json:"assigned"`
}

// Pools lists every IPPool, sorted by name.
func Pools(ctx context.Context, api client.Interface) ([]PoolUse, error) {
	pools, err := api.IPPools().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing IPPools: %w", err)
	}
	allocs, err := api.IPAllocations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing IPAllocations: %w", err)
	}
	holders := map[string]map[string]bool{}
	for _, a := range allocs.Items {
		if holders[a.Spec.Pool] == nil {
			holders[a.Spec.Pool] = map[string]bool{}
		}
		for _, r := range a.Spec.Services {
			holders[a.Spec.Pool][r.Namespace+"/"+r.Name] = true
		}
	}
	out := make([]PoolUse, 0, len(pools.Items))
	for _, p := range pools.Items {
		u := PoolUse{Name: p.Name, Services: []string{}, Conditions: p.Status.Conditions}
		if p.Status.CapacityIPv4 != "" {
			u.Families = append(u.Families, FamilyUse{Family: "IPv4", Capacity: p.Status.CapacityIPv4, Assigned: p.Status.AssignedIPv4})
		}
		if p.Status.CapacityIPv6 != "" {
			u.Families = append(u.Families, FamilyUse{Family: "IPv6", Capacity: p.Status.CapacityIPv6, Assigned: p.Status.AssignedIPv6})
		}
		for s := range holders[p.Name] {
			u.Services = append(u.Services, s)
		}
		slices.Sort(u.Services)
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b PoolUse) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// use is "3/14 (21%)" for a table cell.
func (f FamilyUse) use() string {
	c, ok := new(big.Int).SetString(f.Capacity, 10)
	if !ok || c.Sign() == 0 {
		return fmt.Sprintf("%d/%s", f.Assigned, f.Capacity)
	}
	pct := new(big.Float).Quo(new(big.Float).SetInt64(int64(f.Assigned)*100), new(big.Float).SetInt(c))
	p, _ := pct.Float64()
	return fmt.Sprintf("%d/%s (%.0f%%)", f.Assigned, f.Capacity, p)
}

// state is the pool's conditions that call for attention, or "ok".
func (p PoolUse) state() string {
	var bad []string
	for _, c := range p.Conditions {
		switch {
		case c.Type == v1alpha1.IPPoolConditionValid && c.Status != metav1.ConditionTrue,
			c.Type != v1alpha1.IPPoolConditionValid && c.Status == metav1.ConditionTrue:
			bad = append(bad, c.Type)
		}
	}
	if len(bad) == 0 {
		if meta.FindStatusCondition(p.Conditions, v1alpha1.IPPoolConditionValid) == nil {
			return "unknown"
		}
		return "ok"
	}
	return strings.Join(bad, ",")
}
