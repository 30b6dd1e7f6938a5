package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/lab/netns"
	"github.com/frontdesk-lb/frontdesk/lab/nodeagent"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// RESTConfig is the admin config of a running lab for a process outside its namespaces (a test,
// `frontdesk-lab exec`): its connections are opened inside the control-plane namespace.
func RESTConfig(o Options) (*rest.Config, error) { return RESTConfigFrom(o, o.Kubeconfig()) }

// RESTConfigFrom is RESTConfig with the credentials of another of the lab's kubeconfigs (a
// component's ServiceAccount).
func RESTConfigFrom(o Options, kubeconfig string) (*rest.Config, error) {
	cfg, err := kubeclient.Config(kubeconfig, kubeclient.Options{QPS: 50, Burst: 100})
	if err != nil {
		return nil, err
	}
	plan, err := o.Plan()
	if err != nil {
		return nil, err
	}
	cfg.Dial = netns.Dialer(plan.NS(topology.RoleControlPlane))
	return cfg, nil
}

// Programs are the programs the lab's node agents run for the images they know.
func Programs(o Options) nodeagent.Programs {
	return nodeagent.Programs{HTTPEcho: o.bin("http-echo"), Agnhost: o.k8s("agnhost"), Busybox: "/bin/busybox"}
}

// PodCommand returns the command that runs argv inside Pod namespace/name's network namespace,
// as `kubectl exec` would run it in the container: a command of the Pod's image maps to the
// lab's program for it (wget in a busybox Pod is busybox's wget); an image the lab does not know
// runs argv from this machine.
func PodCommand(ctx context.Context, o Options, namespace, name string, argv []string) (*exec.Cmd, error) {
	cfg, err := RESTConfig(o)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	pod, err := kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	plan, _ := o.Plan()
	ns := plan.PodNS(string(pod.UID))
	if !netns.Exists(ns) {
		return nil, fmt.Errorf("pod %s/%s is not running in the lab (phase %s): no namespace %s", namespace, name, pod.Status.Phase, ns)
	}
	if len(pod.Spec.Containers) > 0 {
		if mapped, err := nodeagent.Argv(pod.Spec.Containers[0].Image, argv, nil, Programs(o)); err == nil {
			argv = mapped
		}
	}
	cmd := netns.Command(ctx, ns, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd, nil
}
