//go:build netns && integration

package lab

// The Services guide's step-by-step example, unchanged, in a lab of its own, then what the
// issue asks beyond it. IP plan: lab/README.md (LAN 198.18.0.0/24: router .1, control plane .2,
// nodes .11-.13, LAN client .100; Pods 198.19.<node>.0/24; ClusterIPs 198.19.128.0/20;
// LoadBalancer pool 198.18.0.200-250; client 203.0.113.10 behind the router).

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

const hello = "Hello from Kubernetes Service!"

// TestWalkthrough runs the walkthrough once per node proxy: frontdesk's, the lab's default, and
// the real kube-proxy.
func TestWalkthrough(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root: it makes network namespaces")
	}
	repo, _ := repoAndK8sBin(t)
	bin := buildBinaries(t, repo)
	for _, proxy := range []string{supervisor.ProxyFrontdesk, supervisor.ProxyKubeProxy} {
		t.Run(proxy, func(t *testing.T) { walkthrough(t, proxy, bin) })
	}
}

func walkthrough(t *testing.T, proxy, bin string) {
	var edits []func(*supervisor.Options)
	if proxy == supervisor.ProxyFrontdesk {
		edits = append(edits, withConformanceImages(t))
	}
	l := startLab(t, proxy, bin, edits...)
	lan := l.plan.NS(topology.RoleLANClient)

	t.Run("make lab twice reuses the running lab", func(t *testing.T) {
		var out bytes.Buffer
		o := l.o
		o.Out = &out
		if err := supervisor.Up(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "reusing it") {
			t.Errorf("second up did not reuse the lab:\n%s", out.String())
		}
	})

	t.Run("frontdesk runs as the chart's ServiceAccounts", func(t *testing.T) { testChartRBAC(t, l) })
	t.Run("the speakers hold only the chart's capabilities", func(t *testing.T) { testSpeakerPrivileges(t, l) })
	t.Run("the speakers' heartbeats on their nodes' InternalIPs", func(t *testing.T) { testHeartbeatAddress(t, l) })

	t.Run("the router installs gobgpd's routes in its table", func(t *testing.T) {
		// Until the speakers speak BGP (#6), a route added to gobgpd's RIB by hand stands in for
		// an advertised one.
		r := l.plan.NS(topology.RoleRouter)
		rib := func(args ...string) {
			if out, err := l.gobgp(t, append([]string{"global", "rib"}, args...)...); err != nil {
				t.Fatalf("gobgp global rib %v: %v\n%s", args, err, out)
			}
		}
		route := func() string {
			out, _ := netns.IP(t.Context(), "-n", r, "route", "show", "198.18.100.9/32")
			return strings.TrimSpace(out)
		}
		eventually(t, 30*time.Second, "gobgpd answering", func() (bool, string) {
			out, err := l.gobgp(t, "global")
			return err == nil, out
		})
		rib("add", "198.18.100.9/32", "nexthop", "198.18.0.11")
		eventually(t, 5*time.Second, "the route in the router's table", func() (bool, string) {
			return strings.Contains(route(), "via 198.18.0.11") && strings.Contains(route(), "proto bgp"), route()
		})
		rib("del", "198.18.100.9/32")
		eventually(t, 5*time.Second, "the route gone", func() (bool, string) { return route() == "", route() })
	})

	// 1. Deploy the app; 2. expose it with a ClusterIP Service: the guide's files as they are.
	l.kubectl(t, "apply", "-f", "examples/hello-deploy.yaml")
	l.kubectl(t, "apply", "-f", "examples/hello-svc.yaml")
	eventually(t, 90*time.Second, "3 ready endpoints for hello-svc", func() (bool, string) {
		n := l.readyEndpoints(t.Context(), "hello-svc")
		return n == 3, fmt.Sprintf("%d ready", n)
	})

	t.Run("ClusterIP: wget from a Pod by the Service's DNS name", func(t *testing.T) {
		// The guide's `kubectl run test-box --image=busybox` and wget inside it, through the real
		// kubelet's exec.
		l.kubectl(t, "run", "test-box", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
		eventually(t, 60*time.Second, "test-box running", func() (bool, string) {
			p, err := l.kube.CoreV1().Pods("default").Get(t.Context(), "test-box", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
		})
		eventually(t, 30*time.Second, "kubectl exec test-box -- wget -qO- http://hello-svc.default.svc.cluster.local", func() (bool, string) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, l.o.Kubectl(), "exec", "test-box", "--",
				"wget", "-qO-", "http://hello-svc.default.svc.cluster.local").CombinedOutput()
			return err == nil && string(out) == hello+"\n", fmt.Sprintf("%v: %q", err, out)
		})
	})

	// 4. Expose to the outside world: change type: ClusterIP to NodePort and re-apply.
	t.Run("NodePort on every node's IP", func(t *testing.T) {
		l.kubectlApply(t, guideService(t, l, "NodePort"))
		port := l.service(t, "hello-svc").Spec.Ports[0].NodePort
		if port < 30000 || port > 32767 {
			t.Fatalf("nodePort %d not in 30000-32767", port)
		}
		for _, n := range l.plan.Nodes {
			eventually(t, 20*time.Second, "GET "+url(n.IP, port)+" from the LAN client", func() (bool, string) {
				r, err := httpGet(t.Context(), lan, url(n.IP, port))
				return err == nil && r.body == hello+"\n", fmt.Sprintf("%v %q", err, r.body)
			})
		}
	})

	var vip netip.Addr
	t.Run("LoadBalancer: an address from the pool, reached by ARP and through the router", func(t *testing.T) {
		l.kubectlApply(t, guideService(t, l, "LoadBalancer"))
		vip = l.ingressAddr(t, "hello-svc")
		if lo, hi, _ := strings.Cut(l.plan.L2Pool, "-"); vip.Less(netip.MustParseAddr(lo)) || netip.MustParseAddr(hi).Less(vip) {
			t.Fatalf("external IP %s is not in the pool %s", vip, l.plan.L2Pool)
		}
		for _, ns := range []string{lan, l.plan.NS(topology.RoleClient)} {
			eventually(t, 20*time.Second, "GET "+url(vip, 80)+" from "+ns, func() (bool, string) {
				r, err := httpGet(t.Context(), ns, url(vip, 80))
				return err == nil && r.body == hello+"\n", fmt.Sprintf("%v %q", err, r.body)
			})
		}
		node := l.announcer(t, vip)
		t.Logf("%s announced by %s", vip, node)
		// What a user reads: the Service's condition names the announcing node, and kubectl
		// describe's Events say the load balancer became ready.
		l.kubectl(t, "wait", "--for=condition=frontdesk.dev/LoadBalancerReady", "service/hello-svc", "--timeout=30s")
		cond := l.kubectl(t, "get", "service", "hello-svc", "-o",
			`jsonpath={.status.conditions[?(@.type=="frontdesk.dev/LoadBalancerReady")].message}`)
		if want := vip.String() + ": announced by " + node; !strings.Contains(cond, want) {
			t.Errorf("condition message %q does not say %q", cond, want)
		}
		if d := l.kubectl(t, "describe", "service", "hello-svc"); !regexp.MustCompile(`Normal\s+LoadBalancerReady\s`).MatchString(d) {
			t.Errorf("kubectl describe shows no LoadBalancerReady Event:\n%s", d)
		}
		t.Run("kubectl frontdesk, as an admin and as a viewer", func(t *testing.T) { testKubectlPlugin(t, l, vip, node) })
	})
	t.Run("LoadBalancer from the BGP pool: through the router, ECMP over every node", func(t *testing.T) { testBGP(t, l) })
	t.Run("passive BGPPeer: the router connects to the speakers, with the chart's capabilities", func(t *testing.T) { testPassiveBGP(t, l) })
	t.Run("the speakers' metrics: what the alerts read is served, and all of it documented", func(t *testing.T) { testSpeakerMetrics(t, l, proxy) })
	t.Run("the controller's metrics over HTTPS with a token, as the ServiceMonitor scrapes them", func(t *testing.T) { testControllerMetrics(t, l) })
	if !vip.IsValid() {
		t.FailNow()
	}

	t.Run("scale to 5 and to 1: traffic follows", func(t *testing.T) {
		l.kubectl(t, "scale", "deployment/hello-deploy", "--replicas=5")
		l.servedBy(t, lan, url(vip, 80), "hello-deploy", 5)
		l.kubectl(t, "scale", "deployment/hello-deploy", "--replicas=1")
		l.servedBy(t, lan, url(vip, 80), "hello-deploy", 1)
		l.kubectl(t, "scale", "deployment/hello-deploy", "--replicas=3")
		l.servedBy(t, lan, url(vip, 80), "hello-deploy", 3)
	})

	t.Run("the announcing node's speaker Pod deleted under load: the address stays, no request fails", func(t *testing.T) {
		started := time.Now()
		before := l.announcer(t, vip)
		var pod corev1.Pod
		for _, p := range l.componentPods(t, "speaker") {
			if p.Spec.NodeName == before {
				pod = p
			}
		}
		if pod.Name == "" {
			t.Fatalf("no running speaker Pod on %s", before)
		}
		// The kubelet stops it with SIGTERM. Its Pod is being deleted and its node stays up: it
		// leaves for a restart, its peers keep the address on its node (which goes on forwarding)
		// until the DaemonSet's new Pod on the node is back.
		ok, failures := l.loadWithoutMove(t, vip, before, "while its speaker restarted", func() {
			l.kubectl(t, "delete", "pod", "-n", supervisor.ChartNamespace, pod.Name, "--wait=false")
			eventually(t, 90*time.Second, "a new speaker Pod running on "+before, func() (bool, string) {
				for _, p := range l.componentPods(t, "speaker") {
					if p.Spec.NodeName == before && p.UID != pod.UID && podReady(&p) {
						return true, ""
					}
				}
				return false, "not yet"
			})
		})
		t.Logf("while %s's speaker Pod was replaced: %d answers, %d failed requests", before, ok[hello], len(failures))
		if ok[hello] == 0 {
			t.Error("no answer at all")
		}
		// The node went on serving: the Service's condition stayed True, with no Event saying
		// otherwise (a new speaker's first run, made before its heartbeats start, used to take
		// its node out of the status for a moment).
		l.stayedReady(t, "hello-svc", started, "while its announcing node's speaker restarted")
	})

	t.Run("blue/green: flip the selector between v1 and v2 with no failed request", func(t *testing.T) {
		l.kubectlApply(t, blueGreen("v1"))
		for _, d := range []string{"hello-v1", "hello-v2"} {
			eventually(t, 60*time.Second, d+" ready", func() (bool, string) {
				dep, err := l.kube.AppsV1().Deployments("default").Get(t.Context(), d, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return dep.Status.ReadyReplicas == 2, fmt.Sprintf("%d ready", dep.Status.ReadyReplicas)
			})
		}
		target := url(l.ingressAddr(t, "hello-bg"), 80)
		eventually(t, 20*time.Second, "v1 answers on "+target, func() (bool, string) {
			r, err := httpGet(t.Context(), lan, target)
			return err == nil && r.body == "v1\n", fmt.Sprintf("%v %q", err, r.body)
		})
		ld := startLoad(t.Context(), lan, target)
		for _, v := range []string{"v2", "v1", "v2"} {
			before := ld.last()[v]
			l.kubectlApply(t, blueGreen(v))
			eventually(t, 20*time.Second, "traffic on "+v, func() (bool, string) {
				return ld.last()[v] >= before+20, fmt.Sprint(ld.last())
			})
		}
		ok, failures := ld.stop()
		t.Logf("blue/green: answers %v, failed %d; %s", ok, len(failures), ld.summary())
		if len(failures) > 0 {
			t.Errorf("%d failed requests during the flips: %v", len(failures), failures)
		}
	})

	if proxy == supervisor.ProxyFrontdesk {
		t.Run("UDP: a flow whose backend Pod is deleted moves to the other one (conntrack cleaned)", func(t *testing.T) {
			testUDPConntrackCleanup(t, l)
		})
	}

	if proxy == supervisor.ProxyFrontdesk {
		t.Run("Kubernetes' network e2e tests: the subset make test runs", func(t *testing.T) { testConformanceSubset(t, l) })
	}

	t.Run("no request of frontdesk's was refused by RBAC", func(t *testing.T) { checkNothingForbidden(t, l) })

	if proxy == supervisor.ProxyFrontdesk {
		t.Run("helm upgrade to a new image tag under load: no failed request, no address moved", func(t *testing.T) {
			testRollingUpgrade(t, l, vip)
		})
	}
}

// guideService is examples/hello-svc.yaml with its type changed, as the guide's step 4 says.
func guideService(t *testing.T, l *lab, typ string) string {
	b, err := os.ReadFile(l.repo + "/examples/hello-svc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(b), "type: ClusterIP", "type: "+typ, 1)
	if out == string(b) {
		t.Fatal("examples/hello-svc.yaml has no `type: ClusterIP` line to change")
	}
	return out
}

// blueGreen is two Deployments, version v1 and v2 of http-echo, and a LoadBalancer Service
// selecting version live.
func blueGreen(live string) string {
	var sb strings.Builder
	for _, v := range []string{"v1", "v2"} {
		fmt.Fprintf(&sb, `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello-%[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello-bg, version: %[1]s}}
  template:
    metadata: {labels: {app: hello-bg, version: %[1]s}}
    spec:
      containers:
        - name: hello
          image: hashicorp/http-echo
          args: ["-text=%[1]s"]
          ports: [{containerPort: 5678}]
---
`, v)
	}
	fmt.Fprintf(&sb, `apiVersion: v1
kind: Service
metadata: {name: hello-bg}
spec:
  type: LoadBalancer
  selector: {app: hello-bg, version: %s}
  ports: [{port: 80, targetPort: 5678}]
`, live)
	return sb.String()
}

// servedBy waits until want Pods of the Deployment are ready endpoints, then checks that 20
// requests in a row all succeed and, together, come from exactly those Pods.
func (l *lab) servedBy(t *testing.T, ns, target, deployment string, want int) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%d ready endpoints", want), func() (bool, string) {
		n := l.readyEndpoints(t.Context(), "hello-svc")
		return n == want, fmt.Sprintf("%d ready", n)
	})
	eventually(t, 30*time.Second, fmt.Sprintf("answers from %d Pods of %s", want, deployment), func() (bool, string) {
		pods := map[string]bool{}
		for range 20 * want {
			r, err := httpGet(t.Context(), ns, target)
			if err != nil {
				return false, err.Error()
			}
			pods[r.pod] = true
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for p := range pods {
				if !yield(p) {
					return
				}
			}
		})
		return len(pods) == want, fmt.Sprintf("answered by %v", names)
	})
}

// announcer is the node that announces addr, from its IPAllocation status.
func (l *lab) announcer(t *testing.T, addr netip.Addr) string {
	t.Helper()
	var node string
	eventually(t, 20*time.Second, "an announcer for "+addr.String(), func() (bool, string) {
		node = l.announcerOrEmpty(t, addr)
		return node != "", "none"
	})
	return node
}

func (l *lab) announcerOrEmpty(t testing.TB, addr netip.Addr) string {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	a, err := l.api.IPAllocations().Get(ctx, addr.String(), metav1.GetOptions{})
	if err != nil || len(a.Status.Announcers) == 0 {
		return ""
	}
	return a.Status.Announcers[0].Node
}
