package supervisor

import (
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// RESTConfig is the admin config of a running lab for a process outside its namespaces (a
// test): its connections are opened inside the control-plane namespace.
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
