package charttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A workload is a rendered pod template and the object it came from.
type workload struct {
	kind, name string
	pod        corev1.PodSpec
}

func workloads(t *testing.T, objs []*unstructured.Unstructured) []workload {
	t.Helper()
	var out []workload
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			d := into[appsv1.Deployment](t, o)
			out = append(out, workload{"Deployment", d.Name, d.Spec.Template.Spec})
		case "DaemonSet":
			d := into[appsv1.DaemonSet](t, o)
			out = append(out, workload{"DaemonSet", d.Name, d.Spec.Template.Spec})
		case "Pod", "StatefulSet", "Job", "CronJob", "ReplicaSet":
			t.Errorf("%s %s: the policy checks do not know this kind; add it", o.GetKind(), o.GetName())
		}
	}
	return out
}

// TestPodPolicy checks every rendered pod template against the project's security targets
// (shared TARGETS.md, "Security"): nothing privileged, no host PID/IPC, capabilities dropped and
// only NET_ADMIN and NET_RAW added back (and NET_BIND_SERVICE for passive BGP peers), on the
// speaker only; a read-only root filesystem, seccomp,
// resources, and a non-root controller.
func TestPodPolicy(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			ws := workloads(t, render(t, vs))
			if len(ws) == 0 {
				t.Fatal("no workload rendered")
			}
			for _, w := range ws {
				for _, problem := range podProblems(w, vs.bindService) {
					t.Errorf("%s %s: %s", w.kind, w.name, problem)
				}
			}
		})
	}
}

// podProblems lists what is wrong with one workload; empty means it passes.
// bindService: the speaker must have NET_BIND_SERVICE, and only then may.
func podProblems(w workload, bindService bool) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	speaker := w.kind == "DaemonSet"
	pod := w.pod
	if pod.HostPID || pod.HostIPC {
		add("hostPID=%v hostIPC=%v; want neither", pod.HostPID, pod.HostIPC)
	}
	if pod.HostNetwork != speaker {
		add("hostNetwork=%v; only the speaker uses the host network", pod.HostNetwork)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("pod seccompProfile is not RuntimeDefault")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			add("volume %s is a hostPath", v.Name)
		}
	}
	if len(pod.InitContainers)+len(pod.EphemeralContainers) > 0 {
		add("has init or ephemeral containers, which these checks do not cover")
	}
	if len(pod.Containers) == 0 {
		add("no containers")
	}
	for _, c := range pod.Containers {
		for _, problem := range containerProblems(pod, c, speaker, bindService) {
			add("container %s: %s", c.Name, problem)
		}
	}
	return p
}

func containerProblems(pod corev1.PodSpec, c corev1.Container, speaker, bindService bool) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	sc := c.SecurityContext
	if sc == nil {
		return []string{"no securityContext"}
	}
	if sc.Privileged == nil || *sc.Privileged {
		add("privileged is not explicitly false")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		add("readOnlyRootFilesystem is not true")
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		add("procMount %s", *sc.ProcMount)
	}
	var drop, added []string
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Drop {
			drop = append(drop, string(c))
		}
		for _, c := range sc.Capabilities.Add {
			added = append(added, string(c))
		}
	}
	if !slices.Equal(drop, []string{"ALL"}) {
		add("capabilities.drop = %v; want [ALL]", drop)
	}
	var wantAdd []string
	if speaker {
		wantAdd = []string{"NET_ADMIN", "NET_RAW"}
		if bindService {
			wantAdd = []string{"NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"} // sorted, as added is
		}
	}
	slices.Sort(added)
	if diff := cmp.Diff(wantAdd, added); diff != "" {
		add("capabilities.add (-want +got):\n%s", diff)
	}
	if !speaker {
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil && pod.SecurityContext != nil {
			nonRoot = pod.SecurityContext.RunAsNonRoot
		}
		uid := sc.RunAsUser
		if uid == nil && pod.SecurityContext != nil {
			uid = pod.SecurityContext.RunAsUser
		}
		if nonRoot == nil || !*nonRoot || uid == nil || *uid == 0 {
			add("must run as a non-root user (runAsNonRoot: true and a non-zero runAsUser)")
		}
	}
	r := c.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := r.Requests[name]; !ok || q.IsZero() {
			add("no %s request", name)
		}
	}
	if q, ok := r.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		add("no memory limit")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		add("no liveness probe on /healthz")
	}
	if problem := imageProblem(c.Image); problem != "" {
		add("%s", problem)
	}
	return p
}

// imageProblem refuses an image that does not come from the registry the values named
// (testRegistry) or is not one of frontdesk's repositories there: the chart adds no registry host
// of its own.
func imageProblem(image string) string {
	rest, ok := strings.CutPrefix(image, testRegistry+"/")
	if !ok {
		return fmt.Sprintf("image %q is not from image.registry %q", image, testRegistry)
	}
	if !strings.HasPrefix(rest, "frontdesk-lb/frontdesk-") || !strings.ContainsAny(rest, ":@") {
		return fmt.Sprintf("image %q: want %s/frontdesk-lb/frontdesk-<component> with a tag or digest", image, testRegistry)
	}
	return ""
}

// TestPodPolicyCatchesViolations feeds podProblems pods that break each rule: a check that can
// never fail proves nothing.
func TestPodPolicyCatchesViolations(t *testing.T) {
	vs := valueSets[0]
	objs := render(t, vs)
	base := map[string]workload{}
	for _, w := range workloads(t, objs) {
		base[w.kind] = w
	}
	yes, no := true, false
	root := int64(0)
	tests := []struct {
		name, kind string
		mutate     func(*corev1.PodSpec)
		want       string // a substring of one problem
	}{
		{"privileged speaker", "DaemonSet", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Privileged = &yes }, "privileged"},
		{"hostPID", "DaemonSet", func(p *corev1.PodSpec) { p.HostPID = true }, "hostPID"},
		{"hostIPC", "Deployment", func(p *corev1.PodSpec) { p.HostIPC = true }, "hostIPC"},
		{"controller on the host network", "Deployment", func(p *corev1.PodSpec) { p.HostNetwork = true }, "hostNetwork"},
		{"SYS_ADMIN on the speaker", "DaemonSet", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = append(p.Containers[0].SecurityContext.Capabilities.Add, "SYS_ADMIN")
		}, "capabilities.add"},
		{"NET_BIND_SERVICE without passive BGP peers", "DaemonSet", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = append(p.Containers[0].SecurityContext.Capabilities.Add, "NET_BIND_SERVICE")
		}, "capabilities.add"},
		{"NET_RAW on the controller", "Deployment", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_RAW"}
		}, "capabilities.add"},
		{"nothing dropped", "DaemonSet", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Capabilities.Drop = nil }, "capabilities.drop"},
		{"writable root", "Deployment", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &no }, "readOnlyRootFilesystem"},
		{"escalation", "DaemonSet", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"root controller", "Deployment", func(p *corev1.PodSpec) { p.SecurityContext.RunAsUser = &root }, "non-root"},
		{"no memory limit", "Deployment", func(p *corev1.PodSpec) { delete(p.Containers[0].Resources.Limits, corev1.ResourceMemory) }, "memory limit"},
		{"no cpu request", "DaemonSet", func(p *corev1.PodSpec) { delete(p.Containers[0].Resources.Requests, corev1.ResourceCPU) }, "cpu request"},
		{"another registry", "Deployment", func(p *corev1.PodSpec) {
			p.Containers[0].Image = "registry.example:5000/frontdesk-lb/frontdesk-controller:1"
		}, "not from image.registry"},
		{"another repository", "DaemonSet", func(p *corev1.PodSpec) { p.Containers[0].Image = testRegistry + "/frontdesk/frontdesk-speaker:1" }, "want " + testRegistry},
		{"hostPath", "DaemonSet", func(p *corev1.PodSpec) {
			p.Volumes = append(p.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, "hostPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := base[tt.kind]
			if !ok {
				t.Fatalf("no %s in value set %s", tt.kind, vs.name)
			}
			w.pod = *w.pod.DeepCopy()
			tt.mutate(&w.pod)
			problems := podProblems(w, false)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("podProblems = %q; want one mentioning %q", problems, tt.want)
			}
		})
	}
}
