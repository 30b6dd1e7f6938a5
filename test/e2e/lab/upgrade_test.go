//go:build netns && integration

package lab

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// testRollingUpgrade upgrades the release with helm from one image tag to another while a
// client on the LAN requests vip: the speaker DaemonSet rolls node by node and the controller
// Deployment replaces its replicas, with no failed request and no LoadBalancer address moved,
// neither in the Services' status nor between nodes: the announcing node's speaker leaves for a
// restart, its peers keep the address on its node (whose kernel goes on forwarding), and the
// client's ARP entry names that node throughout. A move away and back would reset the
// connections opened in between (their packets reach a node without their conntrack entry).
func testRollingUpgrade(t *testing.T, l *lab, vip netip.Addr) {
	addrs := func() map[string]string {
		svcs, err := l.kube.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range svcs.Items {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				out[s.Namespace+"/"+s.Name] += ing.IP + " "
			}
		}
		return out
	}
	before := addrs()
	if len(before) == 0 {
		t.Fatal("no LoadBalancer address to watch")
	}

	// The new tag names the same images: what changes is what a new release changes, the Pods'
	// templates, so every Pod is replaced.
	speaker := l.componentPods(t, "speaker")[0].Spec.Containers[0].Image
	controller := l.componentPods(t, "controller")[0].Spec.Containers[0].Image
	oldTag := speaker[strings.LastIndexByte(speaker, ':')+1:]
	newTag := oldTag + "-upgrade"
	for _, n := range l.plan.Nodes {
		sock := filepath.Join(l.o.Dir, "nodes", n.Name, "containerd", "containerd.sock")
		for _, img := range []string{speaker, controller} {
			ref, err := reference.ParseNormalizedNamed(img)
			if err != nil {
				t.Fatal(err)
			}
			name := ref.String() // containerd's name for it
			out, err := exec.CommandContext(t.Context(), filepath.Join(l.o.NodeBin, "ctr"), "--address", sock, "-n", "k8s.io",
				"images", "tag", "--force", name, strings.TrimSuffix(name, oldTag)+newTag).CombinedOutput()
			if err != nil {
				t.Fatalf("tagging %s on %s: %v\n%s", name, n.Name, err, out)
			}
		}
	}

	announcer := l.announcer(t, vip)
	var began time.Time
	ok, failures := l.loadWithoutMove(t, vip, announcer, "during the rolling upgrade", func() {
		began = time.Now()
		l.helmUpgrade(t, "controller.image.tag="+newTag, "speaker.image.tag="+newTag)
		eventually(t, 5*time.Minute, "every frontdesk Pod on the new tag and ready", func() (bool, string) {
			var old []string
			for _, c := range []string{"speaker", "controller"} {
				pods := l.componentPods(t, c)
				want := map[string]int{"speaker": len(l.plan.Nodes), "controller": 2}[c]
				ready := 0
				for _, p := range pods {
					if !strings.HasSuffix(p.Spec.Containers[0].Image, ":"+newTag) {
						old = append(old, p.Name)
					} else if podReady(&p) && p.DeletionTimestamp == nil {
						ready++
					}
				}
				if ready != want {
					old = append(old, fmt.Sprintf("%d of %d %s Pods ready on %s", ready, want, c, newTag))
				}
			}
			return len(old) == 0, strings.Join(old, ", ")
		})
	})
	t.Logf("helm upgrade %s → %s rolled out in %s: %d answers, %d failed requests", oldTag, newTag,
		time.Since(began).Round(100*time.Millisecond), ok[hello], len(failures))
	if after := addrs(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("LoadBalancer addresses moved: before %v, after %v", before, after)
	}
	// Nor did the Service of vip read not ready: every speaker and the controller were replaced,
	// and its node never stopped serving.
	l.stayedReady(t, "hello-svc", began, "during the upgrade")
}

// loadWithoutMove runs act while the LAN client requests vip, which announcer announces, then
// waits for 20 more answers, and fails t for what replacing speakers must not do: fail a
// request, or move vip off announcer, in the client's ARP entry at any moment or in the
// IPAllocation's status after. during names act in the messages. It returns the answers by
// body and the failed requests.
func (l *lab) loadWithoutMove(t *testing.T, vip netip.Addr, announcer, during string, act func()) (map[string]int, []string) {
	t.Helper()
	client := l.plan.NS(topology.RoleLANClient)
	path, err := watchNeigh(t.Context(), client, vip, l.nodeMACs(t))
	if err != nil {
		t.Fatal(err)
	}
	defer path.stop()
	ld := startLoad(t.Context(), client, url(vip, 80))
	eventually(t, 10*time.Second, "load answered", func() (bool, string) {
		n := ld.answered()
		return n >= 10, fmt.Sprintf("%d answers", n)
	})
	act()
	answered := ld.answered()
	eventually(t, 10*time.Second, "answers after the change", func() (bool, string) {
		n := ld.answered()
		return n >= answered+20, fmt.Sprintf("%d answers since", n-answered)
	})
	ok, failures := ld.stop()
	path.stop()
	t.Logf("%s: %s", during, ld.summary())
	if len(failures) > 0 {
		t.Errorf("%d requests failed %s: %v", len(failures), during, failures)
	}
	if moves := path.movesFrom(announcer); len(moves) > 0 {
		t.Errorf("%s moved off %s %s (client's ARP entry): %v", vip, announcer, during, moves)
	}
	if now := l.announcerOrEmpty(t, vip); now != announcer {
		t.Errorf("%s announced by %q after the change %s, by %s before", vip, now, during, announcer)
	}
	return ok, failures
}
