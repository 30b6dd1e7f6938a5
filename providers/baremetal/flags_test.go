package baremetal

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestServiceClusterIPRangeFlag(t *testing.T) {
	for _, tt := range []struct {
		in, want, wantErr string
	}{
		{in: "10.96.0.0/16", want: "10.96.0.0/16"},
		{in: "10.96.0.0/16, fd00:10:96::/108", want: "10.96.0.0/16,fd00:10:96::/108"},
		{in: "10.96.0.1/16", wantErr: "did you mean 10.96.0.0/16?"},
		{in: "10.96.0.0/16,10.97.0.0/16", wantErr: "two CIDRs of one family"},
		{in: "10.96.0.0", wantErr: "is not a CIDR"},
		{in: "::ffff:10.96.0.0/112", wantErr: "is not a CIDR"},
	} {
		var got []netip.Prefix
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.Var(prefixList{&got}, "service-cluster-ip-range", "")
		err := fs.Parse([]string{"--service-cluster-ip-range=" + tt.in})
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: err %v, want one containing %q", tt.in, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || (prefixList{&got}).String() != tt.want):
			t.Errorf("%q: %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// An API server that serves no ServiceCIDRs leaves the configured ranges in charge; one that
// refuses for another reason than Forbidden stops the start, since pools could then hand out
// ClusterIPs.
func TestServiceCIDRInformerFallsBack(t *testing.T) {
	for _, tt := range []struct {
		name         string
		err          error
		wantInformer bool
		wantErr      bool
	}{
		{name: "served", wantInformer: true},
		{name: "not served", err: apierrors.NewNotFound(schema.GroupResource{Group: "networking.k8s.io", Resource: "servicecidrs"}, "")},
		{name: "forbidden", err: apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "servicecidrs"}, "", nil)},
		{name: "server error", err: apierrors.NewInternalError(context.DeadlineExceeded), wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset()
			if tt.err != nil {
				kube.PrependReactor("list", "servicecidrs", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tt.err })
			}
			inf, err := serviceCIDRInformer(context.Background(), kube)
			if (inf != nil) != tt.wantInformer || (err != nil) != tt.wantErr {
				t.Errorf("informer %v, err %v; want informer %v, error %v", inf != nil, err, tt.wantInformer, tt.wantErr)
			}
		})
	}
	s := &serviceCIDRs{static: []serviceCIDR{{prefix: netip.MustParsePrefix("10.96.0.0/16"), source: "flag"}}}
	if got := s.list(); len(got) != 1 || got[0].prefix.String() != "10.96.0.0/16" {
		t.Errorf("static ranges: %v", got)
	}
}
