// Package manager builds the frontdesk-controller command: the
// cloud-controller-manager of k8s.io/cloud-provider/app, with its flags,
// leader election, /healthz and /metrics, in which the service load-balancer
// controller (names.ServiceLBController, "service-lb-controller", alias
// "service") is frontdesk's own (controller/service) instead of
// cloud-provider's. --controllers keeps its usual meaning: "*" runs every
// controller, "*,-service" every one but ours.
//
// Cloud providers register themselves with cloudprovider.RegisterCloudProvider
// from an init function; the binary selects one with --cloud-provider.
package manager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	cloudcontrollerconfig "k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	"k8s.io/cloud-provider/options"
	cliflag "k8s.io/component-base/cli/flag"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go request metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build info on /metrics
	"k8s.io/component-base/version/verflag"
	genericcontrollermanager "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/controller/service"
)

// Name is the command's name.
const Name = "frontdesk-controller"

// serviceClientName is the client (and, with --use-service-account-credentials,
// the ServiceAccount) our service controller runs as: cloud-provider's, so the
// API server's bootstrap role system:controller:service-controller applies.
const serviceClientName = "service-controller"

// ProviderFlags are a provider's own flags: cloud-provider prints only the named flag sets the
// command was built with, so flags added to the command afterwards would work but not show.
type ProviderFlags struct {
	Section string // the --help section, e.g. "baremetal provider"
	Add     func(*pflag.FlagSet)
}

// knownProviders are the providers frontdesk ships. cloud-provider keeps its
// registry private, so an error can only list those of these that this
// binary registered.
var knownProviders = []string{"aws", "baremetal"}

// NewCommand returns the frontdesk-controller command. It runs until stopCh
// is closed.
//
// --concurrent-service-syncs defaults to service.DefaultWorkers (10)
// instead of cloud-provider's 1, so one slow load balancer does not hold up
// the others; an explicit --concurrent-service-syncs=1 is honoured.
//
// providerFlags are the providers' own flags, each shown in --help as a section of its own.
func NewCommand(stopCh <-chan struct{}, providerFlags ...ProviderFlags) *cobra.Command {
	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		// Only a broken build of cloud-provider's defaults gets here.
		return &cobra.Command{Use: Name, RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("building cloud-controller-manager options: %w", err)
		}}
	}
	opts.ServiceController.ConcurrentServiceSyncs = service.DefaultWorkers

	sf := &serviceFlags{}
	nf := &nodePortFlags{}
	pf := &nodeProxyFlags{}
	var extra cliflag.NamedFlagSets
	sf.addFlags(extra.FlagSet("frontdesk service controller"))
	nf.addFlags(extra.FlagSet("frontdesk nodeport usage"))
	pf.addFlags(extra.FlagSet("frontdesk node proxy events"))
	for _, p := range providerFlags {
		p.Add(extra.FlagSet(p.Section))
	}
	// cloud-provider's one list of controllers that "*" leaves out; inserting is idempotent.
	app.ControllersDisabledByDefault.Insert(NodeProxyEventsController)

	cmd := app.NewCloudControllerManagerCommand(opts, initCloud, controllerInitializers(sf, nf, pf),
		names.CCMControllerAliases(), extra, stopCh)
	cmd.Use = Name
	cmd.Long = Name + ` runs the cloud-controller-manager loops with frontdesk's own
service load-balancer controller: Services of type LoadBalancer whose
loadBalancerClass is one of --load-balancer-class (or unset, with
--serve-default-class) get a load balancer from the provider named by
--cloud-provider.`
	runE := cmd.RunE
	// Check what can be checked before cloud-provider's RunE, which ends the
	// process (klog.Fatal) on a provider it cannot initialise.
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// --version needs no provider: cloud-provider's RunE would print it first, so do we.
		verflag.PrintAndExitIfRequested()
		if err := checkProvider(opts.KubeCloudShared.CloudProvider.Name); err != nil {
			return err
		}
		if err := sf.config().Validate(); err != nil {
			return err
		}
		if _, err := pf.prefixes(); err != nil {
			return err
		}
		return runE(cmd, args)
	}
	return cmd
}

// controllerInitializers is cloud-provider's default controller set with the
// "service" controller replaced by ours, plus the NodePort usage watcher and the node proxy's
// Events (off by default).
func controllerInitializers(sf *serviceFlags, nf *nodePortFlags, pf *nodeProxyFlags) map[string]app.ControllerInitFuncConstructor {
	constructors := maps.Clone(app.DefaultInitFuncConstructors)
	constructors[names.ServiceLBController] = app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: serviceClientName},
		Constructor: sf.startServiceController,
	}
	constructors[NodePortUsageController] = app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: "frontdesk-nodeport-usage"},
		Constructor: nf.start,
	}
	constructors[NodeProxyEventsController] = app.ControllerInitFuncConstructor{
		InitContext: app.ControllerInitContext{ClientName: "frontdesk-node-proxy-events"},
		Constructor: pf.start,
	}
	return constructors
}

// ErrUnknownProvider is wrapped by the error for a --cloud-provider this
// binary did not register.
var ErrUnknownProvider = errors.New("unknown cloud provider")

func checkProvider(name string) error {
	accepted := "none: this binary registered no frontdesk provider"
	if names := registeredProviders(); len(names) > 0 {
		accepted = strings.Join(names, ", ")
	}
	switch {
	case name == "":
		return fmt.Errorf("--cloud-provider is required; accepted: %s", accepted)
	case cloudprovider.IsExternal(name):
		return fmt.Errorf("--cloud-provider=%s: %s is itself the external cloud provider and needs a real one; accepted: %s",
			name, Name, accepted)
	case !cloudprovider.IsCloudProvider(name):
		return fmt.Errorf("--cloud-provider=%s: %w; accepted: %s", name, ErrUnknownProvider, accepted)
	}
	return nil
}

func registeredProviders() []string {
	var out []string
	for _, name := range knownProviders {
		if cloudprovider.IsCloudProvider(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// initCloud is the command's cloud initializer. cloud-provider gives it no
// way to return an error, so like cloud-provider's sample it ends the process
// on failure; checkProvider has already refused unknown names with a proper
// error.
func initCloud(cc *cloudcontrollerconfig.CompletedConfig) cloudprovider.Interface {
	p := cc.ComponentConfig.KubeCloudShared.CloudProvider
	cloud, err := cloudprovider.InitCloudProvider(p.Name, p.CloudConfigFile)
	if err == nil && cloud == nil {
		err = checkProvider(p.Name)
	}
	if err != nil {
		klog.ErrorS(err, "Cloud provider could not be initialised", "provider", p.Name, "config", p.CloudConfigFile)
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	if !cloud.HasClusterID() {
		if !cc.ComponentConfig.KubeCloudShared.AllowUntaggedCloud {
			klog.ErrorS(nil, "The cloud provider found no cluster ID; set one, or pass --allow-untagged-cloud", "provider", p.Name)
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
		klog.InfoS("The cloud provider found no cluster ID; continuing because of --allow-untagged-cloud", "provider", p.Name)
	}
	return cloud
}

// serviceFlags are the flags of our service controller beyond cloud-provider's
// --concurrent-service-syncs.
type serviceFlags struct {
	classes      []string
	serveDefault bool
}

func (f *serviceFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.classes, "load-balancer-class", []string{service.DefaultClass},
		"The spec.loadBalancerClass values to serve (comma-separated or repeated). Services of any other class are left alone.")
	fs.BoolVar(&f.serveDefault, "serve-default-class", true,
		"Also serve Services of type LoadBalancer that set no spec.loadBalancerClass. Turn off when another implementation is the cluster's default.")
}

func (f *serviceFlags) config() service.Config {
	cfg := service.DefaultConfig()
	cfg.Classes = slices.DeleteFunc(slices.Clone(f.classes), func(c string) bool { return c == "" })
	cfg.ServeDefaultClass = f.serveDefault
	return cfg
}

// startServiceController is the app.InitFuncConstructor of our controller.
func (f *serviceFlags) startServiceController(initCtx app.ControllerInitContext,
	cc *cloudcontrollerconfig.CompletedConfig, cloud cloudprovider.Interface) app.InitFunc {
	return func(ctx context.Context, cctx genericcontrollermanager.ControllerContext) (controller.Interface, bool, error) {
		balancer, ok := cloud.LoadBalancer()
		if !ok {
			// Not an error: the other controllers may still be wanted.
			klog.FromContext(ctx).Info("The cloud provider has no load balancers; not starting the service controller",
				"provider", cloud.ProviderName())
			return nil, false, nil
		}
		cfg := f.config()
		cfg.ClusterName = cc.ComponentConfig.KubeCloudShared.ClusterName
		ctrl, err := service.New(balancer, cc.ClientBuilder.ClientOrDie(initCtx.ClientName),
			cc.SharedInformers, cfg)
		if err != nil {
			return nil, false, err
		}
		workers := int(cc.ComponentConfig.ServiceController.ConcurrentServiceSyncs)
		go func() {
			cctx.ControllerManagerMetrics.ControllerStarted(names.ServiceLBController)
			defer cctx.ControllerManagerMetrics.ControllerStopped(names.ServiceLBController)
			ctrl.Run(ctx, workers)
		}()
		return nil, true, nil
	}
}
