package crds

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func TestAll(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Name, Kind    string
		Scope         apiextensionsv1.ResourceScope
		Versions      []string
		StatusSubres  bool
		PrinterColumn int
	}
	var got []summary
	for _, c := range all {
		s := summary{Name: c.Name, Kind: c.Spec.Names.Kind, Scope: c.Spec.Scope}
		for _, v := range c.Spec.Versions {
			s.Versions = append(s.Versions, v.Name)
			s.StatusSubres = v.Subresources != nil && v.Subresources.Status != nil
			s.PrinterColumn = len(v.AdditionalPrinterColumns)
		}
		got = append(got, s)
	}
	want := []summary{
		{"bgpadvertisements.frontdesk.dev", "BGPAdvertisement", apiextensionsv1.ClusterScoped, []string{"v1alpha1"}, false, 5},
		{"bgppeers.frontdesk.dev", "BGPPeer", apiextensionsv1.ClusterScoped, []string{"v1alpha1"}, true, 5},
		{"ipallocations.frontdesk.dev", "IPAllocation", apiextensionsv1.ClusterScoped, []string{"v1alpha1"}, true, 6},
		{"ippools.frontdesk.dev", "IPPool", apiextensionsv1.ClusterScoped, []string{"v1alpha1"}, true, 9},
		{"l2advertisements.frontdesk.dev", "L2Advertisement", apiextensionsv1.ClusterScoped, []string{"v1alpha1"}, false, 5},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CRDs (-want +got):\n%s", d)
	}
}
