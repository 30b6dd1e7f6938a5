//go:build integration

package agent

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// fakeAnnouncer records the last full set and announces every VIP on eth0.
type fakeAnnouncer struct {
	mu          sync.Mutex
	vips        map[netip.Addr]announce.Announcement
	reannounced int
}

func (f *fakeAnnouncer) Reannounce(...netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reannounced++
	return nil
}

func (f *fakeAnnouncer) SetVIPs(v map[netip.Addr]announce.Announcement) (map[netip.Addr]l2.VIPStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vips = maps.Clone(v)
	out := make(map[netip.Addr]l2.VIPStatus, len(v))
	for a := range v {
		out[a] = l2.VIPStatus{Interfaces: []string{"eth0"}}
	}
	return out, nil
}

func (f *fakeAnnouncer) has(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.vips[a]
	return ok
}

// world is the liveness every fake membership reports; each agent has its own Changes channel.
type world struct {
	mu    sync.Mutex
	alive map[string]bool
	chans []chan struct{}
}

type fakeMembership struct {
	w       *world
	changes chan struct{}
	mu      sync.Mutex
	peers   map[string]netip.AddrPort
}

func (w *world) member() *fakeMembership {
	m := &fakeMembership{w: w, changes: make(chan struct{}, 1)}
	w.mu.Lock()
	w.chans = append(w.chans, m.changes)
	w.mu.Unlock()
	return m
}

func (w *world) setAlive(node string, ok bool) {
	w.mu.Lock()
	w.alive[node] = ok
	chans := slices.Clone(w.chans)
	w.mu.Unlock()
	for _, c := range chans {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (m *fakeMembership) Alive() map[string]bool {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	return maps.Clone(m.w.alive)
}
func (m *fakeMembership) HasQuorum() bool          { return true }
func (m *fakeMembership) Changes() <-chan struct{} { return m.changes }
func (m *fakeMembership) SetPeers(p map[string]netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.peers = maps.Clone(p)
	return nil
}

func TestAgentsAnnounceAndFailOver(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("198.51.100.7")
	seedL2(ctx, t, c, api, vip, "node-1", "node-2")

	w := &world{alive: map[string]bool{"node-1": true, "node-2": true}}
	anns := map[string]*fakeAnnouncer{}
	mems := map[string]*fakeMembership{}
	stops := map[string]context.CancelFunc{}
	dones := map[string]chan error{}
	for _, name := range []string{"node-1", "node-2"} {
		ann, mem, done := &fakeAnnouncer{}, w.member(), make(chan error, 1)
		_, tctx := ktesting.NewTestContext(t)
		actx, stop := context.WithCancel(tctx)
		anns[name], mems[name], stops[name], dones[name] = ann, mem, stop, done
		go func() {
			done <- runLoop(actx, c.Client, LoopConfig{
				Config: loop.Config{NodeName: name, API: api, Membership: mem,
					Informers: loop.NewInformers(c.Client, api, time.Minute), Logger: klog.FromContext(actx)},
				L2: &l2mode.Config{NodeName: name, Announcer: ann, Logger: klog.FromContext(actx)},
			})
		}()
	}
	defer func() {
		for name, stop := range stops {
			stop()
			if err := <-dones[name]; err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
		}
	}()

	poll := func(what string, cond func() (bool, string)) {
		t.Helper()
		last := ""
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			ok, why := cond()
			last = why
			return ok, nil
		})
		if err != nil {
			t.Fatalf("%s: %v; last seen: %s", what, err, last)
		}
	}
	holders := func() []string {
		var out []string
		for _, n := range []string{"node-1", "node-2"} {
			if anns[n].has(vip) {
				out = append(out, n)
			}
		}
		return out
	}
	statusNames := func(want string) (bool, string) {
		a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cond := metav1.Condition{}
		for _, c := range a.Status.Conditions {
			if c.Type == v1alpha1.IPAllocationConditionAnnounced {
				cond = c
			}
		}
		ok := len(a.Status.Announcers) == 1 && a.Status.Announcers[0].Node == want &&
			a.Status.Announcers[0].Mode == v1alpha1.AnnouncementModeL2 && a.Status.Announcers[0].Interface == "eth0" &&
			cond.Status == metav1.ConditionTrue && cond.Reason == v1alpha1.IPAllocationReasonAnnouncing &&
			strings.Contains(cond.Message, want)
		return ok, dump(a.Status)
	}
	eventFor := func(node string) (bool, string) {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			seen = append(seen, e.Reason+": "+e.Message)
			if e.InvolvedObject.Name == "web" && e.Reason == l2mode.ReasonAnnouncingNode && e.Source.Component == loop.Component &&
				e.Message == "198.51.100.7 is announced from "+node+" over L2 (eth0)" {
				return true, ""
			}
		}
		return false, strings.Join(seen, "; ")
	}

	var winner string
	poll("one agent announces the VIP", func() (bool, string) {
		h := holders()
		if len(h) == 1 {
			winner = h[0]
		}
		return len(h) == 1, strings.Join(h, ",")
	})
	other := map[string]string{"node-1": "node-2", "node-2": "node-1"}[winner]
	t.Logf("%s announces %s", winner, vip)
	poll("status names the winner", func() (bool, string) { return statusNames(winner) })
	poll("AnnouncingNode event for the winner", func() (bool, string) { return eventFor(winner) })
	if h := holders(); len(h) != 1 || h[0] != winner {
		t.Fatalf("announcers changed without cause: %v", h)
	}
	mems[winner].mu.Lock()
	peers := mems[winner].peers
	mems[winner].mu.Unlock()
	if len(peers) != 2 || !peers["node-1"].IsValid() || peers["node-1"].Port() != 7473 {
		t.Errorf("peers from Nodes = %v, want both nodes on port 7473", peers)
	}

	// The winner crashes: its agent stops without withdrawing anything, then its peer sees it dead.
	stops[winner]()
	if err := <-dones[winner]; err != nil {
		t.Errorf("agent %s: %v", winner, err)
	}
	dones[winner] <- nil // for the deferred cleanup
	began := time.Now()
	w.setAlive(winner, false)
	poll("the other agent takes over", func() (bool, string) { return anns[other].has(vip), "" })
	poll("status moves to the new winner (dead entry removed)", func() (bool, string) { return statusNames(other) })
	t.Logf("takeover announced and published %s after the death was signalled", time.Since(began).Round(time.Millisecond))
	poll("AnnouncingNode event for the new winner", func() (bool, string) { return eventFor(other) })

	// The old winner is seen alive again (a partition healed): the survivor repeats its gratuitous
	// packets, since clients may have followed the other side meanwhile.
	w.setAlive(winner, true)
	poll("the survivor reannounces when its peer comes back", func() (bool, string) {
		anns[other].mu.Lock()
		defer anns[other].mu.Unlock()
		return anns[other].reannounced > 0, ""
	})
}

func dump(st v1alpha1.IPAllocationStatus) string {
	var b strings.Builder
	for _, a := range st.Announcers {
		b.WriteString(a.Node + "/" + string(a.Mode) + "/" + a.Interface + " ")
	}
	for _, c := range st.Conditions {
		b.WriteString(c.Type + "=" + string(c.Status) + " " + c.Reason + " " + c.Message)
	}
	return b.String()
}

// seedL2 creates what one announced address needs: Ready nodes with InternalIPs 10.0.0.1..., an
// IPPool holding vip, an L2Advertisement of every pool, a LoadBalancer Service "web" with vip as
// its ingress, and vip's IPAllocation.
func seedL2(ctx context.Context, t *testing.T, c *controlplane.Cluster, api client.Interface, vip netip.Addr, nodes ...string) {
	t.Helper()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	for i, name := range nodes {
		n, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0." + string(rune('1'+i))}}
		if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.L2Advertisements().Create(ctx, &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "all"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.String()}}
	if _, err := c.Client.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(vip)},
		Spec: v1alpha1.IPAllocationSpec{Address: vip.String(), Pool: "pool",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: svc.UID}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
