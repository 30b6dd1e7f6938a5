package main

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/served"
	"github.com/frontdesk-lb/frontdesk/speaker/agent"
)

// proxyConfig is the node proxy's configuration without --proxy-* flags.
var proxyConfig = proxy.Config{TableName: "frontdesk", MinSyncPeriod: time.Second, SyncPeriod: time.Hour,
	ColdStartChunk: 1000, HealthzBindAddress: "0.0.0.0:10256", Limits: served.DefaultLimits}

// proxyDefaults are the node-proxy options without --proxy flags.
var proxyDefaults = agent.ProxyOptions{Config: proxyConfig, ExcludeDeadNodes: true}

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		if k == "NODE_NAME" {
			return "node-env"
		}
		return ""
	}
	tests := []struct {
		name    string
		args    []string
		want    agent.Options
		wantErr bool
	}{
		{
			name: "defaults",
			args: []string{"--liveness-key-file=/k"},
			want: agent.Options{NodeName: "node-env", LivenessPort: 7473, LivenessKeyFile: "/k", BootIDFile: "/proc/sys/kernel/random/boot_id",
				Classes: []string{"frontdesk.dev/lb"}, MetricsAddr: "127.0.0.1:7472", Drain: 300 * time.Millisecond, RestartGrace: 30 * time.Second, Proxy: proxyDefaults},
		},
		{
			name: "everything set",
			args: []string{"--liveness-key-file=/k", "--node-name=n1", "--liveness-port=9000", "--kubeconfig=/kc",
				"--load-balancer-class=a/b,c/d", "--metrics-bind-address=", "--drain=1s", "-v=3"},
			want: agent.Options{Kubeconfig: "/kc", NodeName: "n1", LivenessPort: 9000, LivenessKeyFile: "/k", BootIDFile: "/proc/sys/kernel/random/boot_id",
				Classes: []string{"a/b", "c/d"}, Drain: time.Second, RestartGrace: 30 * time.Second, Proxy: proxyDefaults},
		},
		{
			name: "empty class: only Services without one",
			args: []string{"--liveness-key-file=/k", "--load-balancer-class="},
			want: agent.Options{NodeName: "node-env", LivenessPort: 7473, LivenessKeyFile: "/k", BootIDFile: "/proc/sys/kernel/random/boot_id",
				Classes: []string{}, MetricsAddr: "127.0.0.1:7472", Drain: 300 * time.Millisecond, RestartGrace: 30 * time.Second, Proxy: proxyDefaults},
		},
		{
			name: "node proxy",
			args: []string{"--liveness-key-file=/k", "--proxy=nftables", "--proxy-cluster-cidr=10.244.0.0/16, fd00:10:244::/48",
				"--proxy-nodeport-addresses=198.18.0.0/24", "--proxy-min-sync-period=100ms", "--proxy-healthz-bind-address=",
				"--proxy-exclude-dead-nodes=false", "--proxy-allowed-external-ip-cidrs=198.51.100.0/24", "--proxy-max-ports-per-service=10",
				"--proxy-max-endpoints-per-service-port=20"},
			want: agent.Options{NodeName: "node-env", LivenessPort: 7473, LivenessKeyFile: "/k", BootIDFile: "/proc/sys/kernel/random/boot_id",
				Classes: []string{"frontdesk.dev/lb"}, MetricsAddr: "127.0.0.1:7472", Drain: 300 * time.Millisecond, RestartGrace: 30 * time.Second,
				Proxy: agent.ProxyOptions{Mode: "nftables", Config: proxy.Config{TableName: "frontdesk",
					MinSyncPeriod: 100 * time.Millisecond, SyncPeriod: time.Hour, ColdStartChunk: 1000,
					ClusterCIDRs:           []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/48")},
					NodePortAddresses:      []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")},
					AllowedExternalIPCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
					Limits:                 served.Limits{Ports: 10, EndpointsPerPort: 20}}}},
		},
		{
			name: "boot ID from a file of the lab's",
			args: []string{"--liveness-key-file=/k", "--boot-id-file=/etc/frontdesk/boot-id/node-env"},
			want: agent.Options{NodeName: "node-env", LivenessPort: 7473, LivenessKeyFile: "/k", BootIDFile: "/etc/frontdesk/boot-id/node-env",
				Classes: []string{"frontdesk.dev/lb"}, MetricsAddr: "127.0.0.1:7472", Drain: 300 * time.Millisecond, RestartGrace: 30 * time.Second, Proxy: proxyDefaults},
		},
		{
			name: "own Pod, for telling a restart from a leave",
			args: []string{"--liveness-key-file=/k", "--pod-name=speaker-x7k2p", "--namespace=frontdesk-system", "--restart-grace=0"},
			want: agent.Options{NodeName: "node-env", PodName: "speaker-x7k2p", Namespace: "frontdesk-system", LivenessPort: 7473, LivenessKeyFile: "/k",
				BootIDFile: "/proc/sys/kernel/random/boot_id", Classes: []string{"frontdesk.dev/lb"}, MetricsAddr: "127.0.0.1:7472",
				Drain: 300 * time.Millisecond, Proxy: proxyDefaults},
		},
		{
			name: "liveness: bind address, accepted key and quorum",
			args: []string{"--liveness-key-file=/k", "--liveness-accept-key-file=/a", "--liveness-bind-address=::ffff:198.18.0.1", "--liveness-quorum"},
			want: agent.Options{NodeName: "node-env", LivenessPort: 7473, LivenessKeyFile: "/k", LivenessAcceptKeyFile: "/a",
				LivenessBindAddress: netip.MustParseAddr("198.18.0.1"), LivenessQuorum: true, BootIDFile: "/proc/sys/kernel/random/boot_id",
				Classes: []string{"frontdesk.dev/lb"}, MetricsAddr: "127.0.0.1:7472", Drain: 300 * time.Millisecond, RestartGrace: 30 * time.Second, Proxy: proxyDefaults},
		},
		{name: "liveness bind address not an address", args: []string{"--liveness-key-file=/k", "--liveness-bind-address=node-1"}, wantErr: true},
		{name: "negative restart grace", args: []string{"--liveness-key-file=/k", "--restart-grace=-1s"}, wantErr: true},
		{name: "unknown proxy mode", args: []string{"--liveness-key-file=/k", "--proxy=iptables"}, wantErr: true},
		{name: "bad cluster CIDR", args: []string{"--liveness-key-file=/k", "--proxy-cluster-cidr=10.244.0.0"}, wantErr: true},
		{name: "zero port cap with the proxy", args: []string{"--liveness-key-file=/k", "--proxy=nftables", "--proxy-max-ports-per-service=0"}, wantErr: true},
		{name: "zero sync period with the proxy", args: []string{"--liveness-key-file=/k", "--proxy=nftables", "--proxy-min-sync-period=0s"}, wantErr: true},
		{name: "key file required", args: nil, wantErr: true},
		{name: "port zero", args: []string{"--liveness-key-file=/k", "--liveness-port=0"}, wantErr: true},
		{name: "port too large", args: []string{"--liveness-key-file=/k", "--liveness-port=65536"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			// The flags never set the proxy's Logger, a value cmp cannot look into.
			ignoreLogger := cmpopts.IgnoreFields(proxy.Config{}, "Logger")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}), ignoreLogger); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// --version needs none of the required flags: it only prints.
func TestParseFlagsVersion(t *testing.T) {
	if _, err := parseFlags([]string{"--version"}, func(string) string { return "" }); !errors.Is(err, errVersion) {
		t.Errorf("parseFlags(--version) = %v, want errVersion", err)
	}
}
