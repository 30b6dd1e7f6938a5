package baremetal

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func TestReadWishes(t *testing.T) {
	tests := []struct {
		name    string
		svc     *v1.Service
		want    wishes
		wantErr string // substring of the error; "" for success
	}{
		{name: "nothing asked", svc: newService("a")},
		{name: "one address", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.7")),
			want: wishes{addrs: addrs("198.51.100.7")}},
		{name: "dual-stack addresses with spaces",
			svc:  newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, " 198.51.100.7 , 2001:db8::7")),
			want: wishes{addrs: addrs("198.51.100.7", "2001:db8::7")}},
		{name: "spec.loadBalancerIP", svc: newService("a", withLoadBalancerIP("198.51.100.8")),
			want: wishes{addrs: addrs("198.51.100.8")}},
		{name: "spec.loadBalancerIP agrees with the annotation",
			svc: newService("a", withLoadBalancerIP("198.51.100.8"),
				objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.8,2001:db8::8")),
			want: wishes{addrs: addrs("198.51.100.8", "2001:db8::8")}},
		{name: "spec.loadBalancerIP contradicts the annotation",
			svc: newService("a", withLoadBalancerIP("198.51.100.9"),
				objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.8")),
			wantErr: `spec.loadBalancerIP "198.51.100.9": contradicts annotation frontdesk.dev/load-balancer-ips`},
		{name: "MetalLB spelling", svc: newService("a", objects.WithAnnotations("metallb.universe.tf/loadBalancerIPs", "198.51.100.7"),
			objects.WithAnnotations("metallb.io/address-pool", "blue"), objects.WithAnnotations("metallb.universe.tf/allow-shared-ip", "k1")),
			want: wishes{addrs: addrs("198.51.100.7"), pool: "blue", sharingKey: "k1"}},
		{name: "two spellings that disagree",
			svc: newService("a", objects.WithAnnotations(AnnotationIPPool, "blue"),
				objects.WithAnnotations("metallb.universe.tf/address-pool", "green")),
			wantErr: `contradicts frontdesk.dev/ip-pool "blue"`},
		{name: "malformed address", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.300")),
			wantErr: `"198.51.100.300" is not an IP address; accepted: IPv4 or IPv6 addresses`},
		{name: "CIDR instead of an address", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.0/24")),
			wantErr: "is not an IP address"},
		{name: "two IPv4 addresses", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.7,198.51.100.8")),
			wantErr: "names two addresses of one family"},
		{name: "loopback", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "127.0.0.1")),
			wantErr: "not a usable load-balancer address"},
		{name: "link-local", svc: newService("a", withLoadBalancerIP("169.254.1.1")),
			wantErr: "not a usable load-balancer address"},
		{name: "empty list entry", svc: newService("a", objects.WithAnnotations(AnnotationLoadBalancerIPs, "198.51.100.7,")),
			wantErr: `"" is not an IP address`},
		{name: "bad pool name", svc: newService("a", objects.WithAnnotations(AnnotationIPPool, "Blue Pool")),
			wantErr: `frontdesk.dev/ip-pool "Blue Pool": is not a valid IPPool name`},
		{name: "bad sharing key", svc: newService("a", objects.WithAnnotations(AnnotationAllowSharedIP, "key with spaces")),
			wantErr: "is not a valid sharing key"},
		{name: "sharing key", svc: newService("a", objects.WithAnnotations(AnnotationAllowSharedIP, "dns")),
			want: wishes{sharingKey: "dns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readWishes(tt.svc)
			if tt.wantErr != "" {
				var ae *AnnotationError
				if !errors.As(err, &ae) {
					t.Fatalf("error = %v, want an *AnnotationError containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(wishes{}), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("wishes (-want +got):\n%s", diff)
			}
		})
	}
}
