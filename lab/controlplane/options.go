package controlplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Service ranges the package uses unless told otherwise. The IPv6 range is a
// /108, the largest that kube-apiserver accepted before the ServiceCIDR
// allocator, so it also works with API servers that still use the old one.
var (
	DefaultServiceCIDRv4 = netip.MustParsePrefix("10.96.0.0/16")
	DefaultServiceCIDRv6 = netip.MustParsePrefix("fd00:10:96::/108")
)

// The node-port range every cluster uses, kube-apiserver's default made
// explicit so tests can assert against it.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// DefaultControllers are the kube-controller-manager controllers
// WithControllerManager runs when given no names: enough for Deployments to
// produce Pods and for Services to get EndpointSlices. serviceaccount-controller
// is needed because the ServiceAccount admission plugin refuses Pods until the
// namespace's "default" ServiceAccount exists.
var DefaultControllers = []string{
	"endpointslice-controller",
	"deployment-controller",
	"replicaset-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
}

// DefaultStartTimeout bounds how long one component may take to become ready.
// kube-apiserver needs about 15 s on an idle 2-core machine; this leaves room
// for a machine that is also compiling.
const DefaultStartTimeout = 2 * time.Minute

// Option configures Start.
type Option func(*options) error

type options struct {
	serviceCIDRs []netip.Prefix
	controllers  []string // nil: no kube-controller-manager
	scheduler    bool
	tokens       []staticToken
	extraArgs    map[string][]string
	startTimeout time.Duration
	bindAddress  netip.Addr // the API server's; the other components stay on loopback
	workDir      string     // New only: where certificates, data, kubeconfigs and logs go
	// nodeAuthorization: Node,RBAC, NodeRestriction and the API server's kubelet client
	// certificate (WithNodeAuthorization).
	nodeAuthorization bool
}

type staticToken struct {
	token, user string
	groups      []string
}

func defaultOptions() options {
	return options{
		serviceCIDRs: []netip.Prefix{DefaultServiceCIDRv4},
		extraArgs:    map[string][]string{},
		startTimeout: DefaultStartTimeout,
		bindAddress:  loopback,
	}
}

// WithBindAddress makes kube-apiserver listen on, and advertise, addr instead
// of 127.0.0.1: for a control plane that processes in other network
// namespaces reach (the lab runs it inside a namespace on the lab's LAN).
// The serving certificate names addr, Config and the kubeconfigs use it, and
// the "kubernetes" Service gets it as its endpoint. etcd,
// kube-controller-manager and kube-scheduler stay on loopback.
func WithBindAddress(addr netip.Addr) Option {
	return func(o *options) error {
		if !addr.IsValid() || addr.Is4In6() || addr.IsUnspecified() {
			return fmt.Errorf("cluster.WithBindAddress: %s is not a usable address; accepted: one IPv4 or IPv6 address of this network namespace", addr)
		}
		o.bindAddress = addr
		return nil
	}
}

// WithWorkDir makes New keep everything in dir (created if missing): the
// certificates, etcd's data, the kubeconfigs and, in dir/logs, the component
// logs. Close removes none of it: the owner of dir decides. Start ignores it.
func WithWorkDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("cluster.WithWorkDir: the directory is empty")
		}
		o.workDir = dir
		return nil
	}
}

// WithServiceCIDR sets the Service IP ranges: one prefix, or two of different
// families for a dual-stack cluster (the first is the primary family).
func WithServiceCIDR(prefixes ...netip.Prefix) Option {
	return func(o *options) error {
		if err := validateServiceCIDRs(prefixes); err != nil {
			return err
		}
		o.serviceCIDRs = slices.Clone(prefixes)
		return nil
	}
}

// WithDualStack makes the cluster dual-stack, IPv4 primary, with Service
// ranges 10.96.0.0/16 and fd00:10:96::/108.
func WithDualStack() Option {
	return WithServiceCIDR(DefaultServiceCIDRv4, DefaultServiceCIDRv6)
}

// WithControllerManager also runs kube-controller-manager with the named
// controllers (kube-controller-manager's names, e.g. "deployment-controller"),
// or DefaultControllers when none are named. There is no cloud provider and no
// service load-balancer controller: that is the job of the code under test.
func WithControllerManager(controllers ...string) Option {
	return func(o *options) error {
		if len(controllers) == 0 {
			controllers = DefaultControllers
		}
		o.controllers = slices.Clone(controllers)
		return nil
	}
}

// WithScheduler also runs kube-scheduler. With no nodes, Pods stay Pending;
// the scheduler is there for tests that register Node objects themselves.
func WithScheduler() Option {
	return func(o *options) error {
		o.scheduler = true
		return nil
	}
}

// WithToken adds a bearer token to kube-apiserver's static token file, for
// user with the given groups. Cluster.ConfigForToken builds a config that
// uses it. Tokens are fixed when the API server starts.
func WithToken(token, user string, groups ...string) Option {
	return func(o *options) error {
		if token == "" || user == "" {
			return errors.New("cluster.WithToken: token and user must not be empty")
		}
		for _, s := range append([]string{token, user}, groups...) {
			if strings.ContainsAny(s, ",\"\n") {
				return fmt.Errorf("cluster.WithToken: %q contains a comma, quote or newline, which the token file cannot hold", s)
			}
		}
		o.tokens = append(o.tokens, staticToken{token: token, user: user, groups: slices.Clone(groups)})
		return nil
	}
}

// WithExtraArgs appends command-line flags for one component ("etcd",
// "kube-apiserver", "kube-controller-manager" or "kube-scheduler"); a flag
// given twice takes its last value, so these override the package's own.
func WithExtraArgs(component string, args ...string) Option {
	return func(o *options) error {
		switch component {
		case binEtcd, binAPIServer, binControllerManager, binScheduler:
		default:
			return fmt.Errorf("cluster.WithExtraArgs: unknown component %q; accepted: %s, %s, %s, %s",
				component, binEtcd, binAPIServer, binControllerManager, binScheduler)
		}
		o.extraArgs[component] = append(o.extraArgs[component], args...)
		return nil
	}
}

// WithStartTimeout sets how long each component may take to become ready.
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("cluster.WithStartTimeout: %s is not positive", d)
		}
		o.startTimeout = d
		return nil
	}
}

func validateServiceCIDRs(prefixes []netip.Prefix) error {
	switch {
	case len(prefixes) == 0 || len(prefixes) > 2:
		return fmt.Errorf("cluster: %d service CIDRs given; accepted: one, or two of different families", len(prefixes))
	case len(prefixes) == 2 && prefixes[0].Addr().Is4() == prefixes[1].Addr().Is4():
		return fmt.Errorf("cluster: service CIDRs %s and %s are of the same family; a dual-stack cluster needs one IPv4 and one IPv6", prefixes[0], prefixes[1])
	}
	for _, p := range prefixes {
		if !p.IsValid() || p.Addr().Is4In6() {
			return fmt.Errorf("cluster: service CIDR %s is not a valid IPv4 or IPv6 prefix", p)
		}
		if p.Masked() != p {
			return fmt.Errorf("cluster: service CIDR %s has host bits set; did you mean %s?", p, p.Masked())
		}
	}
	return nil
}
