package manager

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/spf13/pflag"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	cloudcontrollerconfig "k8s.io/cloud-provider/app/config"
	genericcontrollermanager "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/controller/nodeproxy"
	"github.com/frontdesk-lb/frontdesk/served"
)

// NodeProxyEventsController is the --controllers name of the watcher that tells Services what
// frontdesk's node proxies refuse to program. Off by default: with kube-proxy or another node
// proxy, its rules are not the ones applied, and its Events would mislead.
const NodeProxyEventsController = "node-proxy-events"

// nodeProxyFlags mirror the node proxies' flags of the same names (proxy.AddFlags): give both
// the same values, or the Events describe rules no node applies.
type nodeProxyFlags struct {
	allowed []string
	limits  served.Limits
}

func (f *nodeProxyFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.allowed, "allowed-external-ip-cidrs", nil,
		"With --controllers including "+NodeProxyEventsController+": the node proxies' --allowed-external-ip-cidrs, for the Events on Services whose externalIPs they refuse.")
	f.limits = served.DefaultLimits
	fs.IntVar(&f.limits.Ports, "max-ports-per-service", f.limits.Ports, "The node proxies' --max-ports-per-service, for the Events of "+NodeProxyEventsController+".")
	fs.IntVar(&f.limits.EndpointsPerPort, "max-endpoints-per-service-port", f.limits.EndpointsPerPort,
		"The node proxies' --max-endpoints-per-service-port, for the Events of "+NodeProxyEventsController+".")
}

func (f *nodeProxyFlags) prefixes() ([]netip.Prefix, error) {
	out, err := served.ParseCIDRs(f.allowed)
	if err != nil {
		return nil, fmt.Errorf("--allowed-external-ip-cidrs: %w", err)
	}
	if f.limits.Ports <= 0 || f.limits.EndpointsPerPort <= 0 {
		return nil, fmt.Errorf("--max-ports-per-service and --max-endpoints-per-service-port must be positive")
	}
	return out, nil
}

func (f *nodeProxyFlags) start(initCtx app.ControllerInitContext, cc *cloudcontrollerconfig.CompletedConfig, _ cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, _ genericcontrollermanager.ControllerContext) (controller.Interface, bool, error) {
		allowed, err := f.prefixes()
		if err != nil {
			return nil, false, err
		}
		recorder := eventRecorder(ctx, cc.ClientBuilder.ClientOrDie(initCtx.ClientName))
		_, err = nodeproxy.New(nodeproxy.Config{
			Services:               cc.SharedInformers.Core().V1().Services(),
			EndpointSlices:         cc.SharedInformers.Discovery().V1().EndpointSlices(),
			Recorder:               recorder,
			AllowedExternalIPCIDRs: allowed,
			Limits:                 f.limits,
			Logger:                 klog.FromContext(ctx).WithName(NodeProxyEventsController),
		})
		if err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
}
