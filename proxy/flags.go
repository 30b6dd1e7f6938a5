package proxy

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/served"
)

// Default ports: kube-proxy's, so that frontdesk's proxy stands in for it as is (a cloud load
// balancer's health checks, such as AWS's, probe the node proxy's /healthz on 10256).
const (
	DefaultHealthzBindAddress = "0.0.0.0:10256"
	DefaultMetricsBindAddress = "127.0.0.1:10249"
)

// AddFlags defines the node proxy's settings on fs, each named prefix+name ("" for
// frontdesk-proxy, "proxy-" in the speaker) with usage prefixed by note, and sets c's defaults.
// Both commands define the proxy's flags here, so their names, defaults and checks agree. The
// node name, the client and /metrics belong to each command.
func AddFlags(fs *flag.FlagSet, prefix, note string, c *Config) {
	c.MinSyncPeriod, c.SyncPeriod, c.ColdStartChunk = time.Second, time.Hour, 1000
	c.TableName, c.HealthzBindAddress = "frontdesk", DefaultHealthzBindAddress
	fs.Func(prefix+"nodeport-addresses", note+"comma-separated CIDRs: NodePorts answer on the node's addresses inside them (default: every address but loopback)",
		prefixList(&c.NodePortAddresses))
	fs.Func(prefix+"cluster-cidr", note+"comma-separated Pod CIDRs: ClusterIP traffic from outside them is masqueraded", prefixList(&c.ClusterCIDRs))
	fs.Func(prefix+"ip-families", note+"comma-separated IP families to program: IPv4, IPv6 (default both)", func(v string) error {
		c.IPFamilies = nil
		for _, f := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case "ipv4":
				c.IPFamilies = append(c.IPFamilies, v1.IPv4Protocol)
			case "ipv6":
				c.IPFamilies = append(c.IPFamilies, v1.IPv6Protocol)
			default:
				return fmt.Errorf("%q is not an IP family: want IPv4 or IPv6", f)
			}
		}
		return nil
	})
	fs.Func(prefix+"allowed-external-ip-cidrs", note+"comma-separated CIDRs that a Service's spec.externalIPs may point into "+
		"(default: none, so no externalIP is programmed, as with kube-proxy behind the DenyServiceExternalIPs admission plugin); "+
		"even inside them, an externalIP that is a ClusterIP or another Service's LoadBalancer IP is never programmed. "+
		"Give frontdesk-controller the same value, for the Events it writes",
		prefixList(&c.AllowedExternalIPCIDRs))
	c.Limits = served.DefaultLimits
	fs.IntVar(&c.Limits.Ports, prefix+"max-ports-per-service", c.Limits.Ports,
		note+"a Service with more ports is not programmed (give frontdesk-controller the same value, for its Events)")
	fs.IntVar(&c.Limits.EndpointsPerPort, prefix+"max-endpoints-per-service-port", c.Limits.EndpointsPerPort,
		note+"a Service port with more endpoints (per IP family) gets only this many, ready ones first (give frontdesk-controller the same value)")
	fs.StringVar(&c.TableName, prefix+"table-name", c.TableName, note+"name of frontdesk's nftables table in the ip and ip6 families")
	fs.DurationVar(&c.MinSyncPeriod, prefix+"min-sync-period", c.MinSyncPeriod, note+"least time between two syncs of the rules; changes meanwhile are coalesced")
	fs.DurationVar(&c.SyncPeriod, prefix+"sync-period", c.SyncPeriod, note+"full resync period")
	fs.IntVar(&c.ColdStartChunk, prefix+"cold-start-chunk", c.ColdStartChunk, note+"Services per transaction in a full sync")
	fs.StringVar(&c.HealthzBindAddress, prefix+"healthz-bind-address", c.HealthzBindAddress,
		note+"address serving the node proxy's /healthz (kube-proxy's port); empty disables")
}

// CheckFlags reports settings AddFlags accepted one by one but that cannot work.
func CheckFlags(prefix string, c Config) error {
	if c.MinSyncPeriod <= 0 || c.SyncPeriod <= 0 || c.ColdStartChunk <= 0 {
		return fmt.Errorf("--%[1]smin-sync-period, --%[1]ssync-period and --%[1]scold-start-chunk must be positive", prefix)
	}
	if c.TableName == "" {
		return errors.New("--" + prefix + "table-name must not be empty")
	}
	if c.Limits.Ports <= 0 || c.Limits.EndpointsPerPort <= 0 {
		return fmt.Errorf("--%[1]smax-ports-per-service and --%[1]smax-endpoints-per-service-port must be positive", prefix)
	}
	return nil
}

// prefixList parses a comma-separated list of CIDRs into dst, replacing what it held.
func prefixList(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		p, err := served.ParseCIDRs(strings.Split(v, ","))
		*dst = p
		return err
	}
}
