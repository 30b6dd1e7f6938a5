//go:build netns && integration

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
)

// testPassiveBGP turns the lab's BGPPeer passive, so that the router connects to each speaker's
// TCP port 179, and checks it with the speakers run by the chart alone (issue 17, items 8 and 9):
// first the BGPPeer made passive behind the chart's back (its schema refuses a passive peer in
// bgpPeers without announce.bgp.passivePeers), where the speakers, holding NET_ADMIN and NET_RAW
// only, cannot bind the port and must say so on the BGPPeer; then through the chart with
// passivePeers, which adds NET_BIND_SERVICE and nothing else: the router's connections are
// accepted and the route to the BGP pool's address reaches the router over every node again. The
// peer stays passive after it.
func testPassiveBGP(t *testing.T, l *lab) {
	l.kubectlApply(t, bgpService) // testBGP's, applied again in case it did not run
	vip := l.ingressAddr(t, "hello-bgp")

	t.Run("without NET_BIND_SERVICE: no listener, and every speaker says why", func(t *testing.T) {
		l.kubectl(t, "patch", "bgppeer", "router", "--type=merge", "-p", `{"spec":{"passive":true}}`)
		ds := l.speakerDaemonSet(t)
		if caps := ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add; slices.Contains(caps, "NET_BIND_SERVICE") {
			t.Fatalf("the chart gives the speakers %v without announce.bgp.passivePeers", caps)
		}
		l.everySession(t, 60*time.Second, "every node's session with the passive router says it cannot listen", func(s v1alpha1.BGPSession) bool {
			return s.State != v1alpha1.BGPSessionEstablished && strings.Contains(s.Message, "NET_BIND_SERVICE")
		})
		eventually(t, 30*time.Second, "a "+bgpmode.ReasonBGPPassiveNotListening+" Event from every node", func() (bool, string) {
			evs, err := l.kube.CoreV1().Events(metav1.NamespaceDefault).List(t.Context(), metav1.ListOptions{
				FieldSelector: "reason=" + bgpmode.ReasonBGPPassiveNotListening})
			if err != nil {
				return false, err.Error()
			}
			from := map[string]bool{}
			for _, e := range evs.Items {
				if node, _, ok := strings.Cut(e.Message, ": "); ok && e.InvolvedObject.Name == "router" {
					from[node] = true
				}
			}
			return len(from) == len(l.plan.Nodes), fmt.Sprintf("from %v", from)
		})
		// The router now connects to the nodes: their speakers' active sessions are gone, and
		// with them gobgpd's dynamic neighbours, which a configured neighbour would clash with.
		for _, n := range l.plan.Nodes {
			eventually(t, 30*time.Second, "the router's neighbour "+n.IP.String()+", connecting to its port 179", func() (bool, string) {
				out, err := l.gobgp(t, "neighbor", "add", n.IP.String(), "as", fmt.Sprint(l.plan.NodeASN), "peer-group", "nodes")
				if err != nil && strings.Contains(out, "can't overwrite the existing peer") {
					out2, _ := l.gobgp(t, "neighbor", "del", n.IP.String())
					out += out2
				}
				return err == nil, out
			})
		}
		// Nothing listens for the router: the speakers kept the server they had, which does not.
		for _, n := range l.plan.Nodes {
			if ls := strings.TrimSpace(inNS(t, n.NS, "ss", "-Htln", "( sport = :179 )")); ls != "" {
				t.Errorf("%s listens on TCP 179 without NET_BIND_SERVICE:\n%s", n.Name, ls)
			}
		}
	})

	t.Run("with announce.bgp.passivePeers: the router's sessions are accepted, the route is back", func(t *testing.T) {
		l.helm(t, "--values="+l.passivePeerValues(t), "--set=announce.bgp.passivePeers=true")
		eventually(t, 3*time.Minute, "every speaker Pod replaced, holding NET_BIND_SERVICE, and ready", func() (bool, string) {
			pods := l.componentPods(t, "speaker")
			ready := 0
			for _, p := range pods {
				add := p.Spec.Containers[0].SecurityContext.Capabilities.Add
				if slices.Contains(add, "NET_BIND_SERVICE") && podReady(&p) && p.DeletionTimestamp == nil {
					ready++
				}
			}
			return ready == len(l.plan.Nodes) && len(pods) == len(l.plan.Nodes), fmt.Sprintf("%d of %d", ready, len(pods))
		})
		// Exactly the chart's capabilities, NET_BIND_SERVICE now among them, and no other privilege.
		testSpeakerPrivileges(t, l)
		l.everySession(t, 60*time.Second, "every node's session with the passive router Established", func(s v1alpha1.BGPSession) bool {
			return s.State == v1alpha1.BGPSessionEstablished
		})
		// The router opened each session, to the speaker's port 179.
		for _, n := range l.plan.Nodes {
			var c []netip.Addr
			eventually(t, 10*time.Second, n.Name+": the router's connection on port 179", func() (bool, string) {
				c = l.bgpConnsToPort179(t, n)
				return slices.Contains(c, l.plan.Router), fmt.Sprintf("from %v", c)
			})
			t.Logf("%s: BGP connections to its port 179 from %v", n.Name, c)
		}
		l.routeOverEveryNode(t, vip)
		client := l.plan.NS(topology.RoleClient)
		eventually(t, 30*time.Second, "GET "+url(vip, 80)+" from "+client, func() (bool, string) {
			r, err := httpGet(t.Context(), client, url(vip, 80))
			return err == nil && r.body == hello+"\n", fmt.Sprintf("%v %q", err, r.body)
		})
	})
}

// passivePeerValues is the lab's values file with the BGPPeer router made passive, as a file for
// helm -f: --set cannot change one field of a list's element.
func (l *lab) passivePeerValues(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(l.o.ValuesFile())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		BGPPeers []map[string]any `json:"bgpPeers"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(v.BGPPeers, func(p map[string]any) bool { return p["name"] == "router" })
	if i < 0 {
		t.Fatalf("no BGPPeer router in %s", l.o.ValuesFile())
	}
	v.BGPPeers[i]["spec"].(map[string]any)["passive"] = true
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "passive-peer.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bgpConnsToPort179 is the peers of the established TCP connections to port 179 in node n's
// namespace: BGP sessions that a peer opened to the node's speaker.
func (l *lab) bgpConnsToPort179(t *testing.T, n topology.Node) []netip.Addr {
	t.Helper()
	out := inNS(t, n.NS, "ss", "-Htn", "state", "established", "( sport = :179 )")
	var peers []netip.Addr
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		if ap, err := netip.ParseAddrPort(f[3]); err == nil {
			peers = append(peers, ap.Addr().Unmap())
		}
	}
	return peers
}
