package manager

import (
	"context"

	"github.com/spf13/pflag"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	cloudcontrollerconfig "k8s.io/cloud-provider/app/config"
	genericcontrollermanager "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/controller/nodeports"
)

// NodePortUsageController is the --controllers name of the NodePort usage watcher.
const NodePortUsageController = "nodeport-usage"

// nodePortFlags configure the NodePort usage watcher.
type nodePortFlags struct {
	portRange string
	warnRatio float64
}

func (f *nodePortFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.portRange, "service-node-port-range", "30000-32767",
		"The API server's --service-node-port-range, for NodePort usage metrics and the warning Event before the range runs out.")
	fs.Float64Var(&f.warnRatio, "node-port-warn-ratio", nodeports.DefaultWarnRatio,
		"Share of the NodePort range in use from which every new NodePort draws a NodePortRangeNearlyFull warning Event.")
}

func (f *nodePortFlags) start(initCtx app.ControllerInitContext, cc *cloudcontrollerconfig.CompletedConfig, _ cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, cctx genericcontrollermanager.ControllerContext) (controller.Interface, bool, error) {
		r, err := allocator.ParsePortRange(f.portRange)
		if err != nil {
			return nil, false, err
		}
		recorder := eventRecorder(ctx, cc.ClientBuilder.ClientOrDie(initCtx.ClientName))
		logger := klog.FromContext(ctx).WithName(NodePortUsageController)
		if _, err := nodeports.New(logger, cc.SharedInformers.Core().V1().Services(), r, recorder, f.warnRatio); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
}
