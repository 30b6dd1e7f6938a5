//go:build netns && integration

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/router"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// bgpService is the guide's Deployment behind a LoadBalancer Service from the BGP pool.
const bgpService = `apiVersion: v1
kind: Service
metadata:
  name: hello-bgp
  annotations: {frontdesk.dev/ip-pool: ` + supervisor.BGPPoolName + `}
spec:
  type: LoadBalancer
  selector: {app: hello}
  ports: [{port: 80, targetPort: 5678}]
`

// testBGP checks that an address of the BGP pool, off every subnet of the lab, is reached from
// the client behind the router through the routes the speakers advertise: one next hop per node
// in the router's kernel table, and connections spread over every node (ECMP).
func testBGP(t *testing.T, l *lab) {
	l.checkRouterContainer(t)
	l.kubectlApply(t, bgpService)
	vip := l.ingressAddr(t, "hello-bgp")
	if !l.plan.BGPPool.Contains(vip) {
		t.Fatalf("hello-bgp got %s, not in the BGP pool %s", vip, l.plan.BGPPool)
	}
	route := l.routeOverEveryNode(t, vip)
	t.Logf("router: %s", strings.Join(strings.Fields(route), " "))
	// Every node's session runs BFD with the router (the chart's BGPPeer asks for it, gobgpd's
	// peer group too), so that a node's failure takes it out of the route within a second.
	l.everySession(t, 30*time.Second, "BFD Up on every node's session with the router", func(s v1alpha1.BGPSession) bool {
		return s.State == v1alpha1.BGPSessionEstablished && s.BFD == "Up"
	})

	const requests = 60
	target := url(vip, 80)
	client := l.plan.NS(topology.RoleClient)
	// Every node advertises the address once it has it; kube-proxy, which the speakers cannot
	// wait for, may forward it a second or two later (frontdesk's proxy is ready before its
	// speaker advertises). ECMP spreads connections over the nodes: twenty answers in a row
	// mean every node forwards.
	inARow := 0
	eventually(t, 30*time.Second, "20 answers in a row to GET "+target+" from "+client, func() (bool, string) {
		r, err := httpGet(t.Context(), client, target)
		if err != nil || r.body != hello+"\n" {
			inARow = 0
			return false, fmt.Sprintf("%v %q", err, r.body)
		}
		inARow++
		return inARow >= 20, fmt.Sprintf("%d in a row", inARow)
	})
	before := l.conntrackCounts(t, vip)
	for i := range requests {
		r, err := httpGet(t.Context(), client, target)
		if err != nil || r.body != hello+"\n" {
			t.Fatalf("request %d to %s from %s: %v %q", i, target, client, err, r.body)
		}
	}
	after := l.conntrackCounts(t, vip)
	perNode := map[string]int{}
	total := 0
	for _, n := range l.plan.Nodes {
		perNode[n.Name] = after[n.Name] - before[n.Name]
		total += perNode[n.Name]
	}
	t.Logf("%d requests from %s to %s: connections per node %v", requests, client, target, perNode)
	if total < requests {
		t.Errorf("the nodes saw %d connections to %s, want at least %d", total, vip, requests)
	}
	for n, c := range perNode {
		if c == 0 {
			t.Errorf("no connection went through %s: ECMP does not spread (per node %v)", n, perNode)
		}
	}
}

// routeOverEveryNode waits up to 60 s for the router's kernel route to vip to have a next hop
// through every node, and returns it as ip route prints it.
func (l *lab) routeOverEveryNode(t *testing.T, vip netip.Addr) string {
	t.Helper()
	var route string
	eventually(t, 60*time.Second, "the router's route to "+vip.String()+" over every node", func() (bool, string) {
		out, _ := netns.IP(t.Context(), "-n", l.plan.NS(topology.RoleRouter), "route", "show", vip.String()+"/32")
		route = strings.TrimSpace(out)
		for _, n := range l.plan.Nodes {
			if !strings.Contains(route, "via "+n.IP.String()+" ") {
				return false, route
			}
		}
		return true, route
	})
	return route
}

// everySession waits up to timeout for every node's session with the lab's BGPPeer router, in
// its status, to satisfy ok.
func (l *lab) everySession(t *testing.T, timeout time.Duration, what string, ok func(v1alpha1.BGPSession) bool) {
	t.Helper()
	eventually(t, timeout, what, func() (bool, string) {
		p, err := l.api.BGPPeers().Get(t.Context(), "router", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, s := range p.Status.Sessions {
			if ok(s) {
				n++
			}
		}
		return n == len(l.plan.Nodes), fmt.Sprintf("sessions %+v", p.Status.Sessions)
	})
}

// gobgp runs GoBGP's CLI against the router's gobgpd.
func (l *lab) gobgp(t *testing.T, args ...string) (string, error) {
	argv := netns.Enter(l.plan.NS(topology.RoleRouter), append([]string{filepath.Join(l.o.Dir, "bin", "gobgp"), "-u", "127.0.0.1"}, args...)...)
	out, err := exec.CommandContext(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// conntrackCounts is, per node, the number of conntrack entries for connections to addr in the
// node's namespace (which outlive the connections by minutes in TIME_WAIT, so differences count
// new connections).
func (l *lab) conntrackCounts(t *testing.T, addr netip.Addr) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range l.plan.Nodes {
		b := inNS(t, n.NS, "conntrack", "-L", "-p", "tcp", "--orig-dst", addr.String())
		out[n.Name] = strings.Count(b, "dst="+addr.String()+" ")
	}
	return out
}

// checkRouterContainer checks that the nodes' BGP peer is gobgpd in a container: the router's
// containerd runs its task, in the container's cgroup, on the router namespace's network, and it
// is the only gobgpd there.
func (l *lab) checkRouterContainer(t *testing.T) {
	t.Helper()
	c := l.o.RouterContainer()
	pid, status, err := c.Task(t.Context())
	if err != nil || status != "RUNNING" {
		t.Fatalf("the router's gobgpd container: %v (status %q)", err, status)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if want := c.CgroupParent() + "/" + router.ContainerID; err != nil || !strings.Contains(string(cg), want) {
		t.Fatalf("gobgpd (pid %d) is not in the container's cgroup %s: %v\n%s", pid, want, err, cg)
	}
	routerNS := l.plan.NS(topology.RoleRouter)
	gobgpds, err := processesIn(filepath.Join("/run/netns", routerNS), "gobgpd")
	if err != nil {
		t.Fatal(err)
	}
	if len(gobgpds) != 1 || gobgpds[0].pid != pid {
		t.Fatalf("gobgpd on the network of %s: %v; want the container's task (pid %d) alone", routerNS, gobgpds, pid)
	}
	t.Logf("router: gobgpd is the task of container %s (pid %d, %s)", router.ContainerID, pid, status)
}
