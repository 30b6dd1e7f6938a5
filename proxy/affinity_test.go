package proxy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// affineClient is a Pod (no masquerade) whose affinity entry the tests plant.
const affineClient = "10.244.1.7"

// affinitySetsIn lists the table's affinity sets, sorted.
func affinitySetsIn(fake *knftables.Fake) []string {
	fake.RLock()
	defer fake.RUnlock()
	var out []string
	for name := range fake.Table.Sets {
		if strings.HasPrefix(name, "aff-") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// recordClient writes client into an affinity set as the kernel's `update @set { ip saddr }`
// would: that is the state a sync must not lose.
func recordClient(t *testing.T, fake *knftables.Fake, set, client string) {
	t.Helper()
	tx := fake.NewTransaction()
	tx.Add(&knftables.Element{Set: set, Key: []string{client}})
	if err := fake.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}

func hasClient(fake *knftables.Fake, set, client string) bool {
	fake.RLock()
	defer fake.RUnlock()
	s := fake.Table.Sets[set]
	return s != nil && s.FindElement(client) != nil
}

func forceFullSync(t *testing.T, tp *testProxy) {
	t.Helper()
	tp.store.markAll()
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := tp.fakes[knftables.IPv4Family].LastTransaction.String()
	if !strings.Contains(last, "flush chain ip frontdesk services") {
		t.Fatalf("markAll did not lead to a full sync:\n%s", last)
	}
}

// TestFullSyncKeepsAffinity: a full sync (periodic resync, retry after a failure, restart) keeps
// the clients recorded in the affinity sets a Service still wants, deletes the sets no Service
// wants, and a changed timeout replaces the Service's sets.
func TestFullSyncKeepsAffinity(t *testing.T) {
	fake := knftables.NewFake(knftables.IPv4Family, "frontdesk")
	cfg := func(c *Config) {
		c.IPFamilies = []v1.IPFamily{v1.IPv4Protocol}
		c.NFTables = func(f knftables.Family, table string) (knftables.Interface, error) { return fake, nil }
	}
	tp := newTestProxy(t, cfg)
	tp.fakes[knftables.IPv4Family] = fake
	tp.apply(t,
		newService("sticky", clusterIP("10.96.0.5"), affinity(60)),
		newSlice("sticky", "sticky-1", v1.ProtocolTCP, remote1, remote2),
		newService("gone", clusterIP("10.96.0.6"), affinity(30)),
		newSlice("gone", "gone-1", v1.ProtocolTCP, remote1),
	)
	sets := affinitySetsIn(fake)
	var stickyRemote2, goneSet string
	for _, s := range sets {
		switch {
		case strings.HasPrefix(s, "aff-60-default/sticky/") && strings.HasSuffix(s, "__10.244.2.6/8080"):
			stickyRemote2 = s
		case strings.HasPrefix(s, "aff-30-default/gone/"):
			goneSet = s
		}
	}
	if stickyRemote2 == "" || goneSet == "" {
		t.Fatalf("affinity sets %v lack sticky's set for 10.244.2.6 or gone's", sets)
	}
	recordClient(t, fake, stickyRemote2, affineClient)
	recordClient(t, fake, goneSet, affineClient)
	trace := func() []string {
		return newTracer(t, fake, knftables.IPv4Family, nodeIP).trace(tcp(affineClient, "10.96.0.5", 80))
	}
	if diff := cmp.Diff([]string{"DNAT 10.244.2.6:8080"}, trace()); diff != "" {
		t.Fatalf("before any full sync, the recorded client is not steered (-want +got):\n%s", diff)
	}

	// The periodic resync, with "gone" deleted in the meantime.
	tp.DeleteService("default", "gone")
	forceFullSync(t, tp)
	if !hasClient(fake, stickyRemote2, affineClient) {
		t.Errorf("a full sync flushed the affinity set %s", stickyRemote2)
	}
	if diff := cmp.Diff([]string{"DNAT 10.244.2.6:8080"}, trace()); diff != "" {
		t.Errorf("after a full sync the affine client lost its endpoint (-want +got):\n%s", diff)
	}
	if slices.Contains(affinitySetsIn(fake), goneSet) {
		t.Errorf("the set %s of a deleted Service survived a full sync", goneSet)
	}

	// A restart: a new proxy over the table the previous one left.
	restarted := newTestProxy(t, cfg)
	restarted.fakes[knftables.IPv4Family] = fake
	restarted.apply(t, newService("sticky", clusterIP("10.96.0.5"), affinity(60)),
		newSlice("sticky", "sticky-1", v1.ProtocolTCP, remote1, remote2))
	if !hasClient(fake, stickyRemote2, affineClient) {
		t.Errorf("a restart flushed the affinity set %s", stickyRemote2)
	}

	// A new timeout: new sets (the timeout is part of the name), the old ones go, on a full sync
	// as on a partial one.
	restarted.SetService(newService("sticky", clusterIP("10.96.0.5"), affinity(120)))
	forceFullSync(t, restarted)
	for _, s := range affinitySetsIn(fake) {
		if !strings.HasPrefix(s, "aff-120-default/sticky/") {
			t.Errorf("after the timeout changed to 120 s, the set %s remains", s)
		}
	}
	if got := len(affinitySetsIn(fake)); got != 2 {
		t.Errorf("%d affinity sets after the timeout change, want 2 (one per endpoint)", got)
	}
	fake.RLock()
	for _, s := range fake.Table.Sets {
		if strings.HasPrefix(s.Name, "aff-120-") && (s.Timeout == nil || *s.Timeout != 120*time.Second) {
			t.Errorf("set %s has timeout %v, want 120s", s.Name, s.Timeout)
		}
	}
	fake.RUnlock()
	if got := trace(); len(got) != 2 {
		t.Errorf("with a new timeout the client's old entry still steers it: %v", got)
	}
}
