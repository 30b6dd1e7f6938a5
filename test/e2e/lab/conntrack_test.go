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

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// udpService is a LoadBalancer Service for UDP 8081 of the Pods labelled app: udp-ct.
const udpService = `apiVersion: v1
kind: Service
metadata: {name: udp-ct}
spec:
  type: LoadBalancer
  selector: {app: udp-ct}
  ports: [{name: udp, protocol: UDP, port: 8081, targetPort: 8081}]
`

// udpPod is one backend of udpService: agnhost netexec, which answers the datagram "hostname"
// with its Pod's name.
func udpPod(name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: udp-ct}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: netexec
      image: %s
      args: [netexec, --http-port=8080, --udp-port=8081]
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`, name, image)
}

// testUDPConntrackCleanup checks the node proxy's conntrack clean-up as the chart runs it (in
// the speaker, with NET_ADMIN and NET_RAW only): a UDP flow from the LAN client to a
// LoadBalancer address, one socket and so one conntrack entry, stays on its backend while a
// second backend joins; when its backend Pod is deleted, the proxy must delete the entry, so the
// same flow's next datagrams reach the other backend. Left alone, the entry would live as long as
// the client keeps sending and every datagram would go to the gone Pod's address.
func testUDPConntrackCleanup(t *testing.T, l *lab) {
	image := l.agnhostImage(t)
	t.Cleanup(func() {
		// Not the test's Context, which has ended by now.
		_ = exec.Command(l.o.Kubectl(), "delete", "service/udp-ct", "pod/udp-ct-a", "pod/udp-ct-b",
			"--ignore-not-found", "--wait=false").Run()
	})
	l.kubectlApply(t, udpService)
	l.kubectlApply(t, udpPod("udp-ct-a", image))
	vip := l.ingressAddr(t, "udp-ct")
	lan := l.plan.NS(topology.RoleLANClient)
	conn, err := netns.Dialer(lan)(t.Context(), "udp", netip.AddrPortFrom(vip, 8081).String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	flow := conn.LocalAddr().String() + " → " + conn.RemoteAddr().String()
	ask := func() string {
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("hostname")); err != nil {
			return err.Error()
		}
		b := make([]byte, 256)
		n, err := conn.Read(b)
		if err != nil {
			return err.Error()
		}
		return string(b[:n])
	}
	eventually(t, 90*time.Second, "udp-ct-a answers the flow "+flow, func() (bool, string) {
		got := ask()
		return got == "udp-ct-a", got
	})
	l.kubectlApply(t, udpPod("udp-ct-b", image))
	eventually(t, 90*time.Second, "2 ready endpoints for udp-ct", func() (bool, string) {
		n := l.readyEndpoints(t.Context(), "udp-ct")
		return n == 2, fmt.Sprintf("%d ready", n)
	})
	// The flow's conntrack entry pins it to one backend: ten datagrams in a row answered by the
	// same Pod. Were it not pinned, the test below could not tell a cleaned entry from a new
	// choice. (Usually udp-ct-a, whose entry it is; the entry can be renewed on another node
	// meanwhile, if the address moved as the second endpoint came.)
	var pinned, other string
	eventually(t, 30*time.Second, "the flow "+flow+" pinned to one backend", func() (bool, string) {
		first := ask()
		for i := 1; i < 10; i++ {
			if got := ask(); got != first {
				return false, fmt.Sprintf("datagram 0 to %q, datagram %d to %q", first, i, got)
			}
		}
		pinned = first
		return first == "udp-ct-a" || first == "udp-ct-b", first
	})
	other = map[string]string{"udp-ct-a": "udp-ct-b", "udp-ct-b": "udp-ct-a"}[pinned]
	pod, err := l.kube.CoreV1().Pods(metav1.NamespaceDefault).Get(t.Context(), pinned, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone := pod.Status.PodIP
	announcer := l.announcer(t, vip)

	began := time.Now()
	l.kubectl(t, "delete", "pod", pinned, "--wait=false")
	eventually(t, 30*time.Second, other+" answers the same flow "+flow, func() (bool, string) {
		got := ask()
		return got == other, got
	})
	t.Logf("flow %s through %s: on %s %s after %s (%s) was deleted",
		flow, announcer, other, time.Since(began).Round(100*time.Millisecond), pinned, gone)
	for _, n := range l.plan.Nodes {
		// Node n's conntrack entries of UDP flows to vip that are DNATed to the gone address.
		left := inNS(t, n.NS, "conntrack", "-L", "-p", "udp", "--orig-dst", vip.String(), "--reply-src", gone)
		if left = strings.TrimSpace(left); left != "" {
			t.Errorf("%s keeps conntrack entries to %s, %s's gone address:\n%s", n.Name, gone, pinned, left)
		}
	}
}

// agnhostImage is the agnhost image every node imported, by the name a Pod asks for it.
func (l *lab) agnhostImage(t *testing.T) string {
	t.Helper()
	names, err := kubenode.ArchiveImageNames(filepath.Join(l.o.Images, "agnhost.tar"))
	if err != nil || len(names) == 0 {
		t.Fatalf("the agnhost image (make images): %v %v", names, err)
	}
	ref, err := reference.ParseNormalizedNamed(names[0])
	if err != nil {
		t.Fatal(err)
	}
	return reference.FamiliarString(ref)
}
