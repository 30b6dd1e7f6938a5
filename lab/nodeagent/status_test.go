package nodeagent

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeRun is a process record as the waiter leaves it; exited ones have done closed.
func fakeRun(pid int, exitCode int, exited bool) *run {
	r := &run{cmd: &exec.Cmd{Process: &os.Process{Pid: pid}}, started: time.Unix(1000, 0), done: make(chan struct{}), code: exitCode}
	if exited {
		r.ended = time.Unix(1010, 0)
		close(r.done)
	}
	return r
}

func TestPodStatus(t *testing.T) {
	a := &Agent{cfg: Config{NodeIP: netip.MustParseAddr("198.18.0.11")}}
	type want struct {
		Phase corev1.PodPhase
		Ready corev1.ConditionStatus
		State string // of the first container: the reason or "running"
		Code  int32
	}
	state := func(cs corev1.ContainerStatus) (string, int32) {
		switch {
		case cs.State.Running != nil:
			return "running", 0
		case cs.State.Waiting != nil:
			return cs.State.Waiting.Reason, 0
		case cs.State.Terminated != nil:
			return cs.State.Terminated.Reason, cs.State.Terminated.ExitCode
		}
		return "", 0
	}
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		c      container
		want   want
	}{
		{name: "running and listening", c: container{cur: fakeRun(10, 0, false), ready: true},
			want: want{corev1.PodRunning, corev1.ConditionTrue, "running", 0}},
		{name: "running, not ready yet", c: container{cur: fakeRun(10, 0, false)},
			want: want{corev1.PodRunning, corev1.ConditionFalse, "running", 0}},
		{name: "not started yet", c: container{},
			want: want{corev1.PodPending, corev1.ConditionFalse, "ContainerCreating", 0}},
		{name: "unknown image", c: container{argvErr: &UnknownImageError{Image: "nginx"}},
			want: want{corev1.PodPending, corev1.ConditionFalse, "ErrImagePull", 0}},
		{name: "no such program", c: container{argvErr: &NoProgramError{Image: "hashicorp/http-echo", Program: "sh"}},
			want: want{corev1.PodPending, corev1.ConditionFalse, "CreateContainerError", 0}},
		{name: "Never, exit 0", policy: corev1.RestartPolicyNever, c: container{last: fakeRun(10, 0, true)},
			want: want{corev1.PodSucceeded, corev1.ConditionFalse, "Completed", 0}},
		{name: "Never, exit 3", policy: corev1.RestartPolicyNever, c: container{last: fakeRun(10, 3, true)},
			want: want{corev1.PodFailed, corev1.ConditionFalse, "Error", 3}},
		{name: "OnFailure, exit 0", policy: corev1.RestartPolicyOnFailure, c: container{last: fakeRun(10, 0, true)},
			want: want{corev1.PodSucceeded, corev1.ConditionFalse, "Completed", 0}},
		{name: "Always, exited: back-off", policy: corev1.RestartPolicyAlways, c: container{last: fakeRun(10, 1, true), restarts: 2},
			want: want{corev1.PodRunning, corev1.ConditionFalse, "CrashLoopBackOff", 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.spec = corev1.Container{Name: "app", Image: "hashicorp/http-echo"}
			p := &pod{sb: sandbox{ip: netip.MustParseAddr("198.19.1.2")}, started: time.Unix(999, 0), cs: []*container{&c}}
			obj := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			st := a.podStatus(p, obj)
			var ready corev1.ConditionStatus
			for _, cond := range st.Conditions {
				if cond.Type == corev1.PodReady {
					ready = cond.Status
				}
			}
			s, code := state(st.ContainerStatuses[0])
			if d := cmp.Diff(tc.want, want{st.Phase, ready, s, code}); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if st.PodIP != "198.19.1.2" || st.HostIP != "198.18.0.11" {
				t.Errorf("podIP %s hostIP %s", st.PodIP, st.HostIP)
			}
		})
	}
}

// A status computed twice from the same state must compare equal to the first, or the agent
// would write it on every pass.
func TestConditionsKeepTransitionTime(t *testing.T) {
	old := metav1.NewTime(time.Unix(5000, 0))
	prev := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: old}}
	got := conditions(prev, map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodReady: corev1.ConditionTrue})
	for _, c := range got {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.Equal(&old) {
			t.Errorf("Ready unchanged but its transition time moved to %s", c.LastTransitionTime)
		}
	}
	got = conditions(prev, map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodReady: corev1.ConditionFalse})
	for _, c := range got {
		if c.Type == corev1.PodReady && c.LastTransitionTime.Equal(&old) {
			t.Error("Ready changed but kept its old transition time")
		}
	}
}

func TestIPAM(t *testing.T) {
	m := newIPAM(netip.MustParsePrefix("198.19.1.0/29")) // .2 to .6 usable
	var got []string
	for range 5 {
		a, err := m.allocate("uid")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if d := cmp.Diff([]string{"198.19.1.2", "198.19.1.3", "198.19.1.4", "198.19.1.5", "198.19.1.6"}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if _, err := m.allocate("uid"); !errors.Is(err, ErrPodCIDRFull) {
		t.Errorf("full CIDR: err = %v, want ErrPodCIDRFull", err)
	}
	m.release(netip.MustParseAddr("198.19.1.4"))
	if a, err := m.allocate("uid"); err != nil || a.String() != "198.19.1.4" {
		t.Errorf("after a release: %v %v, want 198.19.1.4", a, err)
	}
}
