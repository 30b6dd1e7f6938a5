//go:build integration

package client_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestClient drives every call of the typed clients and the informers against a real API
// server with the chart's CRDs.
func TestClient(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	// Installing again (an upgrade to the same version) must succeed too.
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	fd, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	pools, allocs := fd.IPPools(), fd.IPAllocations()

	w, err := allocs.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	pool, err := pools.Create(ctx, &v1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "blue"},
		Spec:       v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24", "2001:db8::/64"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("status subresource", func(t *testing.T) {
		p := pool.DeepCopy()
		p.Spec.Priority = 7 // ignored by UpdateStatus
		p.Status = v1alpha1.IPPoolStatus{
			CapacityIPv4: "256", CapacityIPv6: "18446744073709551616", AssignedIPv4: 1,
		}
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
			Type: v1alpha1.IPPoolConditionValid, Status: metav1.ConditionTrue, Reason: v1alpha1.IPPoolReasonValid,
			Message: "no overlap", ObservedGeneration: p.Generation,
		})
		got, err := pools.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Priority != 0 || got.Status.CapacityIPv6 != "18446744073709551616" ||
			!meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.IPPoolConditionValid) {
			t.Errorf("after UpdateStatus: priority %d, status %+v", got.Spec.Priority, got.Status)
		}
		pool = got
	})

	t.Run("patch and update", func(t *testing.T) {
		got, err := pools.Patch(ctx, "blue", types.MergePatchType, []byte(`{"spec":{"priority":-1}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got.Spec.AutoAssign = ptr.To(false)
		got, err = pools.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Priority != -1 || *got.Spec.AutoAssign || got.Status.AssignedIPv4 != 1 {
			t.Errorf("after Patch and Update: %+v", got)
		}
		list, err := pools.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 || list.Items[0].Name != "blue" {
			t.Fatalf("List = %v, %v", list, err)
		}
	})

	t.Run("printer columns", func(t *testing.T) {
		table := getTable(ctx, t, fd, "ippools")
		want := []string{"Name", "Addresses", "Valid", "IPv4 Assigned", "IPv4 Capacity", "IPv6 Assigned",
			"IPv6 Capacity", "Auto Assign", "Priority", "Age"}
		if d := cmp.Diff(want, columnNames(table)); d != "" {
			t.Errorf("columns (-want +got):\n%s", d)
		}
		if len(table.Rows) != 1 {
			t.Fatalf("%d rows, want 1", len(table.Rows))
		}
		cells := table.Rows[0].Cells
		// Name, Addresses, Valid, IPv4 Assigned, IPv4 Capacity, IPv6 Assigned, IPv6 Capacity.
		wantCells := []any{"blue", `["198.51.100.0/24","2001:db8::/64"]`, "True", float64(1), "256", float64(0), "18446744073709551616"}
		if d := cmp.Diff(wantCells, cells[:len(wantCells)]); d != "" {
			t.Errorf("cells (-want +got):\n%s", d)
		}
	})

	addr := "2001:db8::7"
	name := v1alpha1.IPAllocationName(mustAddr(t, addr))
	alloc := &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.IPAllocationSpec{Address: addr, Pool: "blue",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: "u1"}}},
	}

	t.Run("allocation lock", func(t *testing.T) {
		first, err := allocs.Create(ctx, alloc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A second controller picking the same address loses the race.
		other := alloc.DeepCopy()
		other.Spec.Services[0].Name = "db"
		if _, err := allocs.Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
			t.Fatalf("second Create: %v; want AlreadyExists", err)
		}
		// Joining a shared address is an Update with the resourceVersion read.
		join := first.DeepCopy()
		join.Spec.SharingKey = "k"
		join.Spec.Services = append(join.Spec.Services, v1alpha1.ServiceRef{Namespace: "default", Name: "dns", UID: "u2"})
		if _, err := allocs.Update(ctx, join, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale := first.DeepCopy()
		stale.Spec.Services = append(stale.Spec.Services, v1alpha1.ServiceRef{Namespace: "default", Name: "ntp", UID: "u3"})
		if _, err := allocs.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("Update from a stale read: %v; want Conflict", err)
		}
		got, err := allocs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(join.Spec, got.Spec); d != "" {
			t.Errorf("spec (-want +got):\n%s", d)
		}
		select {
		case ev := <-w.ResultChan():
			if a, ok := ev.Object.(*v1alpha1.IPAllocation); ev.Type != watch.Added || !ok || a.Name != name {
				t.Errorf("first watch event %s %T", ev.Type, ev.Object)
			}
		case <-ctx.Done():
			t.Fatal("no watch event")
		}
	})

	t.Run("allocation status", func(t *testing.T) {
		got, err := allocs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		since := metav1.NewTime(time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC))
		got.Status.Announcers = []v1alpha1.Announcer{
			{Node: "node-a", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: since},
			{Node: "node-b", Mode: v1alpha1.AnnouncementModeBGP, Since: since},
		}
		meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{
			Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionTrue,
			Reason: v1alpha1.IPAllocationReasonAnnouncing, Message: "node-a on eth0, node-b over BGP",
		})
		got.Spec.Pool = "green" // ignored by UpdateStatus
		upd, err := allocs.UpdateStatus(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Spec.Pool != "blue" || len(upd.Status.Announcers) != 2 ||
			!meta.IsStatusConditionTrue(upd.Status.Conditions, v1alpha1.IPAllocationConditionAnnounced) {
			t.Errorf("after UpdateStatus: pool %q, status %+v", upd.Spec.Pool, upd.Status)
		}

		table := getTable(ctx, t, fd, "ipallocations")
		want := []string{"Name", "Address", "Pool", "Announced By", "Announced", "Sharing Key", "Age"}
		if d := cmp.Diff(want, columnNames(table)); d != "" {
			t.Errorf("columns (-want +got):\n%s", d)
		}
		if len(table.Rows) != 1 {
			t.Fatalf("%d rows, want 1", len(table.Rows))
		}
		// A CRD printer column shows the first value its JSONPath finds (the server's table
		// convertor takes results[0][0]), so Announced By names the first announcer only.
		wantCells := []any{name, addr, "blue", "node-a", "True", "k"}
		if d := cmp.Diff(wantCells, table.Rows[0].Cells[:len(wantCells)]); d != "" {
			t.Errorf("cells (-want +got):\n%s", d)
		}
	})

	t.Run("l2 advertisements", func(t *testing.T) {
		ads := fd.L2Advertisements()
		ad, err := ads.Create(ctx, &v1alpha1.L2Advertisement{
			ObjectMeta: metav1.ObjectMeta{Name: "lan"},
			Spec: v1alpha1.L2AdvertisementSpec{
				IPPools:       []string{"blue"},
				NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"edge": "true"}}},
				Interfaces:    []string{"eth0", "bond0.100"},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ad.Spec.IPPoolSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"l2": "yes"}}}
		if _, err := ads.Update(ctx, ad, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ads.Patch(ctx, "lan", types.MergePatchType, []byte(`{"spec":{"interfaces":["eth0"]}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := ads.Get(ctx, "lan", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantSpec := v1alpha1.L2AdvertisementSpec{
			IPPools:         []string{"blue"},
			IPPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"l2": "yes"}}},
			NodeSelectors:   []metav1.LabelSelector{{MatchLabels: map[string]string{"edge": "true"}}},
			Interfaces:      []string{"eth0"},
		}
		if d := cmp.Diff(wantSpec, got.Spec); d != "" {
			t.Errorf("spec (-want +got):\n%s", d)
		}
		// An empty L2Advertisement is valid: every pool, every node, the subnet's interface.
		if _, err := ads.Create(ctx, &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "all"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		list, err := ads.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 2 {
			t.Fatalf("List = %v, %v", list, err)
		}

		table := getTable(ctx, t, fd, "l2advertisements")
		want := []string{"Name", "IP Pools", "Interfaces", "IP Pool Selectors", "Node Selectors", "Age"}
		if d := cmp.Diff(want, columnNames(table)); d != "" {
			t.Errorf("columns (-want +got):\n%s", d)
		}
		if len(table.Rows) != 2 {
			t.Fatalf("%d rows, want 2", len(table.Rows))
		}
		// Rows come in name order: all, lan.
		wantCells := []any{"lan", `["blue"]`, `["eth0"]`}
		if d := cmp.Diff(wantCells, table.Rows[1].Cells[:len(wantCells)]); d != "" {
			t.Errorf("cells (-want +got):\n%s", d)
		}
	})

	t.Run("informers", func(t *testing.T) {
		ictx, stop := context.WithCancel(ctx)
		f := client.NewInformerFactory(fd, 0)
		v := f.Frontdesk().V1alpha1()
		pools, allocs, ads := v.IPPools(), v.IPAllocations(), v.L2Advertisements()
		pools.Informer() // each asked for before Start, so that Start runs it
		allocs.Informer()
		ads.Informer()
		f.Start(ictx.Done())
		defer f.Shutdown()
		defer stop()
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("cache of %v did not sync", typ)
			}
		}
		p, err := pools.Lister().Get("blue")
		if err != nil || p.Spec.Priority != -1 {
			t.Fatalf("pool lister: %v, %v", p, err)
		}
		all, err := allocs.Lister().List(labels.Everything())
		if err != nil || len(all) != 1 {
			t.Fatalf("allocation lister: %v, %v", all, err)
		}
		ad, err := ads.Lister().Get("lan")
		if err != nil || len(ad.Spec.Interfaces) != 1 {
			t.Fatalf("L2Advertisement lister: %v, %v", ad, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := allocs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pools.Delete(ctx, "blue", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pools.Get(ctx, "blue", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("Get after Delete: %v; want NotFound", err)
		}
		for _, n := range []string{"lan", "all"} {
			if err := fd.L2Advertisements().Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// getTable lists resource as kubectl get does, asking the server for a Table: the printer
// columns with every priority.
func getTable(ctx context.Context, t *testing.T, fd client.Interface, resource string) metav1.Table {
	t.Helper()
	raw, err := fd.RESTClient().Get().Resource(resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	return table
}

func columnNames(table metav1.Table) []string {
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	return names
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
