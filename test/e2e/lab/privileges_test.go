//go:build netns && integration

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// capabilityBits are the capabilities the speaker may be given, by the bit the kernel shows
// them at in /proc/<pid>/status (linux/capability.h).
var capabilityBits = map[corev1.Capability]uint{"NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13}

// testSpeakerPrivileges checks that each running speaker, started by a real kubelet, containerd
// and runc from the chart's DaemonSet, holds exactly the capabilities the chart adds (and that
// those are among the ones the speaker may have), cannot gain others (no_new_privs), and runs
// on a read-only root filesystem. The walkthrough around it shows that layer 2, BGP and the node
// proxy work with nothing more.
func testSpeakerPrivileges(t *testing.T, l *lab) {
	ds := l.speakerDaemonSet(t)
	want, err := chartCapabilities(ds)
	if err != nil {
		t.Fatal(err)
	}
	pods := l.componentPods(t, "speaker")
	if len(pods) == 0 {
		t.Fatal("no running speaker")
	}
	for _, pod := range pods {
		pid, err := l.speakerPID(t.Context(), pod.Spec.NodeName, pod.Name)
		if err != nil {
			t.Fatal(err)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
			if got := statusField(status, field); got != fmt.Sprintf("%016x", want) {
				t.Errorf("speaker %s (pid %d): %s %s, want %016x (the chart's %v)", pod.Name, pid, field, got, want,
					ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add)
			}
		}
		for _, field := range []string{"CapInh", "CapAmb"} {
			if got := statusField(status, field); got != "0000000000000000" {
				t.Errorf("speaker %s (pid %d): %s %s, want none", pod.Name, pid, field, got)
			}
		}
		if got := statusField(status, "NoNewPrivs"); got != "1" {
			t.Errorf("speaker %s (pid %d): NoNewPrivs %q, want 1 (allowPrivilegeEscalation: false)", pod.Name, pid, got)
		}
		if ro, err := rootReadOnly(pid); err != nil || !ro {
			t.Errorf("speaker %s (pid %d): root filesystem read-only = %v (%v), want read-only", pod.Name, pid, ro, err)
		}
	}
}

// speakerDaemonSet is the chart's speaker DaemonSet, found by its component label.
func (l *lab) speakerDaemonSet(t *testing.T) appsv1.DaemonSet {
	t.Helper()
	ds, err := l.kube.AppsV1().DaemonSets(supervisor.ChartNamespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=speaker"})
	if err != nil || len(ds.Items) != 1 {
		t.Fatalf("the speaker DaemonSet: %v (%d found)", err, len(ds.Items))
	}
	return ds.Items[0]
}

// chartCapabilities is the capability mask the DaemonSet's speaker container asks for, which must
// drop ALL and add only capabilities of capabilityBits.
func chartCapabilities(ds appsv1.DaemonSet) (uint64, error) {
	sc := ds.Spec.Template.Spec.Containers[0].SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		return 0, fmt.Errorf("the speaker container does not drop ALL capabilities: %+v", sc)
	}
	var mask uint64
	for _, c := range sc.Capabilities.Add {
		bit, ok := capabilityBits[c]
		if !ok {
			return 0, fmt.Errorf("the chart gives the speaker %s, which it must not have", c)
		}
		mask |= 1 << bit
	}
	return mask, nil
}

// statusField is the value of one "Name:\tvalue" line of /proc/<pid>/status.
func statusField(status []byte, name string) string {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rootReadOnly tells whether the root mount of the process's mount namespace is read-only, from
// its mountinfo: the mount point is the fifth field, the per-mount options the sixth.
func rootReadOnly(pid int) (bool, error) {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return slices.Contains(strings.Split(f[5], ","), "ro"), nil
		}
	}
	return false, fmt.Errorf("no root mount in /proc/%d/mountinfo", pid)
}

// testHeartbeatAddress checks that each speaker's heartbeat socket is bound to its node's
// InternalIP, where its peers send: the chart gives it --liveness-bind-address=$(POD_IP), and
// under hostNetwork the kubelet makes the Pod's IP the node's first InternalIP.
func testHeartbeatAddress(t *testing.T, l *lab) {
	for _, n := range l.plan.Nodes {
		out := inNS(t, n.NS, "ss", "-Huln", "( sport = :7473 )")
		var local []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) >= 4 {
				local = append(local, f[3])
			}
		}
		if want := netip.AddrPortFrom(n.IP, 7473).String(); !slices.Equal(local, []string{want}) {
			t.Errorf("%s: heartbeat sockets on %v, want %s alone", n.Name, local, want)
		}
	}
}
