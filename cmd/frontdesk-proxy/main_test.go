package main

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		if k == "NODE_NAME" {
			return "node-env"
		}
		return ""
	}
	noEnv := func(string) string { return "" }
	host := func() (string, error) { return "Host-A", nil }
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		check   func(t *testing.T, o options)
		wantErr bool
	}{{
		name:   "defaults",
		getenv: env,
		check: func(t *testing.T, o options) {
			if o.cfg.NodeName != "node-env" || o.cfg.MinSyncPeriod != time.Second || o.cfg.TableName != "frontdesk" ||
				o.cfg.MetricsBindAddress != "127.0.0.1:10249" || o.cfg.HealthzBindAddress != "0.0.0.0:10256" {
				t.Errorf("defaults: %+v", o.cfg)
			}
		},
	}, {
		name:   "host name when nothing else",
		getenv: noEnv,
		check: func(t *testing.T, o options) {
			if o.cfg.NodeName != "host-a" {
				t.Errorf("NodeName = %q, want host-a", o.cfg.NodeName)
			}
		},
	}, {
		name: "every flag",
		args: []string{"--kubeconfig=/k", "--hostname-override=n1", "--nodeport-addresses=192.168.0.0/24, fd00::/64",
			"--cluster-cidr=10.244.0.0/16", "--ip-families=IPv4", "--min-sync-period=250ms", "--metrics-bind-address=",
			"--healthz-bind-address=127.0.0.1:1"},
		getenv: env,
		check: func(t *testing.T, o options) {
			want := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("fd00::/64")}
			if diff := cmp.Diff(want, o.cfg.NodePortAddresses, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("NodePortAddresses (-want +got):\n%s", diff)
			}
			if o.kubeconfig != "/k" || o.cfg.NodeName != "n1" || o.cfg.MinSyncPeriod != 250*time.Millisecond ||
				o.cfg.MetricsBindAddress != "" || len(o.cfg.IPFamilies) != 1 || o.cfg.IPFamilies[0] != v1.IPv4Protocol {
				t.Errorf("parsed: %+v", o)
			}
		},
	}, {
		name: "bad CIDR", args: []string{"--nodeport-addresses=192.168.0.1"}, getenv: env, wantErr: true,
	}, {
		name: "bad family", args: []string{"--ip-families=IPv5"}, getenv: env, wantErr: true,
	}, {
		name: "zero min sync period", args: []string{"--min-sync-period=0"}, getenv: env, wantErr: true,
	}, {
		name: "stray argument", args: []string{"extra"}, getenv: env, wantErr: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, tc.getenv, host)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.check != nil && err == nil {
				tc.check(t, o)
			}
		})
	}
	if _, err := parseFlags(nil, noEnv, func() (string, error) { return "", errors.New("no") }); err == nil {
		t.Error("no node name anywhere was accepted")
	}
}

// --version needs no node name: it only prints.
func TestParseFlagsVersion(t *testing.T) {
	if _, err := parseFlags([]string{"--version"}, func(string) string { return "" }, func() (string, error) { return "", errors.New("no") }); !errors.Is(err, errVersion) {
		t.Errorf("parseFlags(--version) = %v, want errVersion", err)
	}
}
