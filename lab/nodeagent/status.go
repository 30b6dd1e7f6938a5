package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var everything = labels.Everything()

func isGone(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsConflict(err) }

// probeTimeout bounds one readiness check when the probe does not set its own.
const probeTimeout = time.Second

// probe sets each running container's readiness. With a readinessProbe, its httpGet,
// tcpSocket or exec check decides (after initialDelaySeconds; success and failure thresholds
// are 1). Without one, a container that declares TCP ports is ready once all of them accept
// connections (the program is listening), and one that declares none once it runs.
func probe(ctx context.Context, p *pod, obj *corev1.Pod, progs Programs) {
	for _, c := range p.cs {
		if c.cur == nil || c.cur.exited() {
			c.ready = false
			continue
		}
		rp := c.spec.ReadinessProbe
		if rp == nil {
			c.ready = listening(ctx, p.sb.ip, c.spec.Ports)
			continue
		}
		if time.Since(c.cur.started) < time.Duration(rp.InitialDelaySeconds)*time.Second {
			c.ready = false
			continue
		}
		timeout := probeTimeout
		if rp.TimeoutSeconds > 0 {
			timeout = time.Duration(rp.TimeoutSeconds) * time.Second
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		c.ready = check(pctx, rp.ProbeHandler, p, c, progs) == nil
		cancel()
	}
}

func listening(ctx context.Context, ip netip.Addr, ports []corev1.ContainerPort) bool {
	for _, port := range ports {
		if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := dialTCP(pctx, netip.AddrPortFrom(ip, uint16(port.ContainerPort)))
		cancel()
		if err != nil {
			return false
		}
	}
	return true
}

func dialTCP(ctx context.Context, ap netip.AddrPort) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return err
	}
	return conn.Close()
}

// check runs one probe handler from the node, as the kubelet does (exec runs inside the Pod).
func check(ctx context.Context, h corev1.ProbeHandler, p *pod, c *container, progs Programs) error {
	switch {
	case h.HTTPGet != nil:
		port, err := resolvePort(h.HTTPGet.Port, c.spec)
		if err != nil {
			return err
		}
		url := fmt.Sprintf("http://%s%s", netip.AddrPortFrom(p.sb.ip, port), h.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe: %s", resp.Status)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, c.spec)
		if err != nil {
			return err
		}
		return dialTCP(ctx, netip.AddrPortFrom(p.sb.ip, port))
	case h.Exec != nil:
		argv, err := Argv(c.spec.Image, h.Exec.Command, nil, progs)
		if err != nil {
			return err
		}
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.sb.ns}, argv...)...).Run()
	}
	return fmt.Errorf("probe handler not supported in the lab (httpGet, tcpSocket and exec are)")
}

func resolvePort(port intstr.IntOrString, spec corev1.Container) (uint16, error) {
	if port.Type == intstr.Int {
		return uint16(port.IntVal), nil
	}
	for _, p := range spec.Ports {
		if p.Name == port.StrVal {
			return uint16(p.ContainerPort), nil
		}
	}
	if n, err := strconv.ParseUint(port.StrVal, 10, 16); err == nil {
		return uint16(n), nil
	}
	return 0, fmt.Errorf("probe port %q: no container port of that name", port.StrVal)
}

// env is the container's environment: PATH, HOSTNAME (the Pod's name, as container runtimes
// set it), the Pod's literal values and the downward-API fields the lab knows.
func (a *Agent) env(obj *corev1.Pod, c *container, ip netip.Addr) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + obj.Name}
	fields := map[string]string{
		"metadata.name": obj.Name, "metadata.namespace": obj.Namespace, "metadata.uid": string(obj.UID),
		"spec.nodeName": a.cfg.NodeName, "status.podIP": ip.String(), "status.hostIP": a.cfg.NodeIP.String(),
		"spec.serviceAccountName": obj.Spec.ServiceAccountName,
	}
	for _, e := range c.spec.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil:
			if v, ok := fields[e.ValueFrom.FieldRef.FieldPath]; ok {
				env = append(env, e.Name+"="+v)
			}
		}
	}
	return env
}

// publish writes the Pod's status when it differs from the one in the API server.
func (a *Agent) publish(ctx context.Context, p *pod, obj *corev1.Pod) {
	want := a.podStatus(p, obj)
	if equality.Semantic.DeepEqual(want, obj.Status) {
		return
	}
	upd := obj.DeepCopy()
	upd.Status = want
	if _, err := a.kube.CoreV1().Pods(obj.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !isGone(err) {
		a.log.Error(err, "updating Pod status", "pod", klogRef(obj))
	}
}

// sec truncates to what the API keeps of a time, so that an unchanged status compares equal.
func sec(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

// podStatus is the status a kubelet would report for p.
func (a *Agent) podStatus(p *pod, obj *corev1.Pod) corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP:    a.cfg.NodeIP.String(),
		HostIPs:   []corev1.HostIP{{IP: a.cfg.NodeIP.String()}},
		PodIP:     p.sb.ip.String(),
		PodIPs:    []corev1.PodIP{{IP: p.sb.ip.String()}},
		StartTime: ptrTime(sec(p.started)),
		QOSClass:  obj.Status.QOSClass,
	}
	if st.QOSClass == "" {
		st.QOSClass = corev1.PodQOSBestEffort
	}
	allReady, anyRunning, allDone, anyFailed, anyWaiting := true, false, true, false, false
	for _, c := range p.cs {
		cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "lab://" + c.spec.Image,
			RestartCount: c.restarts, Ready: c.ready}
		switch {
		case c.argvErr != nil:
			reason := "ErrImagePull"
			if npe := (*NoProgramError)(nil); errors.As(c.argvErr, &npe) {
				reason = "CreateContainerError"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.argvErr.Error()}
			anyWaiting = true
		case c.cur != nil:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: sec(c.cur.started)}
			cs.Started = ptrBool(true)
			cs.ContainerID = "lab://" + strconv.Itoa(c.cur.cmd.Process.Pid)
			anyRunning = true
		case c.last != nil:
			term := &corev1.ContainerStateTerminated{ExitCode: int32(c.last.code), Reason: "Completed",
				StartedAt: sec(c.last.started), FinishedAt: sec(c.last.ended),
				ContainerID: "lab://" + strconv.Itoa(c.last.cmd.Process.Pid)}
			if c.last.code != 0 {
				term.Reason = "Error"
				anyFailed = true
			}
			if restarts(obj.Spec.RestartPolicy, c.last.code) {
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
					Message: fmt.Sprintf("back-off restarting failed container %s", c.spec.Name)}
				cs.LastTerminationState.Terminated = term
				allDone = false
			} else {
				cs.State.Terminated = term
			}
			cs.Started = ptrBool(false)
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			anyWaiting = true
		}
		if cs.State.Terminated == nil {
			allDone = false
		}
		allReady = allReady && c.ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case allDone && anyFailed:
		st.Phase = corev1.PodFailed
	case allDone:
		st.Phase = corev1.PodSucceeded
	case anyRunning || !anyWaiting:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	ready := corev1.ConditionFalse
	if allReady && st.Phase == corev1.PodRunning {
		ready = corev1.ConditionTrue
	}
	st.Conditions = conditions(obj.Status.Conditions, map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodReadyToStartContainers: corev1.ConditionTrue,
		corev1.PodInitialized:            corev1.ConditionTrue,
		corev1.ContainersReady:           ready,
		corev1.PodReady:                  ready,
		corev1.PodScheduled:              corev1.ConditionTrue,
	})
	return st
}

// conditions builds the Pod's conditions in a fixed order, keeping a condition's transition
// time while its status does not change.
func conditions(prev []corev1.PodCondition, want map[corev1.PodConditionType]corev1.ConditionStatus) []corev1.PodCondition {
	order := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
		corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	now := sec(time.Now())
	var out []corev1.PodCondition
	for _, t := range order {
		c := corev1.PodCondition{Type: t, Status: want[t], LastTransitionTime: now}
		for _, p := range prev {
			if p.Type == t {
				if p.Status == c.Status {
					c.LastTransitionTime = p.LastTransitionTime
				}
				c.LastProbeTime = p.LastProbeTime
			}
		}
		out = append(out, c)
	}
	return out
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }
func ptrBool(b bool) *bool               { return &b }
