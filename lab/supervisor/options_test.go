package supervisor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	ok := Options{Name: "fdlab", Dir: "/run/frontdesk-lab/fdlab", Nodes: 3, Proxy: ProxyKubeProxy, K8sBin: "/k8s",
		NodeBin: "/node", Images: "/images"}
	for _, tc := range []struct {
		name    string
		change  func(*Options)
		wantErr string // substring; empty: valid
	}{
		{name: "defaults", change: func(*Options) {}},
		{name: "frontdesk proxy", change: func(o *Options) { o.Proxy = ProxyFrontdesk }},
		{name: "unknown proxy", change: func(o *Options) { o.Proxy = "ipvs" }, wantErr: "accepted: frontdesk"},
		{name: "bad name", change: func(o *Options) { o.Name = "Lab!" }, wantErr: "lower-case"},
		{name: "no nodes", change: func(o *Options) { o.Nodes = 0 }, wantErr: "1 to 9"},
		{name: "no k8s binaries", change: func(o *Options) { o.K8sBin = "" }, wantErr: "must be set"},
		{name: "no node binaries", change: func(o *Options) { o.NodeBin = "" }, wantErr: "must be set"},
		{name: "no images", change: func(o *Options) { o.Images = "" }, wantErr: "must be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.change(&o)
			err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestChartValues(t *testing.T) {
	o := Options{Name: "fdlab", Nodes: 3}
	p, _ := o.Plan()
	common := []string{"image: {registry: localhost}", "controllers: [service, nodeport-usage, cloud-node]", "ipPools:\n  - name: lan",
		`addresses: ["198.18.0.200-198.18.0.250"]`, "l2Advertisements:\n  - name: lan", "ipPools: [lan]"}
	bgp := []string{"- name: bgp\n    spec:\n      addresses: [\"198.18.100.0/24\"]\n      autoAssign: false\n      avoidBuggyIPs: true",
		"bgp: {enabled: true, asn: 64512}",
		`spec: {address: "198.18.0.1", peerASN: 64500, localASN: 64512}`,
		"spec: {ipPools: [bgp], peers: [router]}"}
	for _, tc := range []struct {
		bgp           bool
		want, wantNot []string
	}{
		{bgp: false, want: common, wantNot: bgp},
		{bgp: true, want: append(common, bgp...)},
	} {
		t.Run(fmt.Sprintf("bgp=%t", tc.bgp), func(t *testing.T) {
			v := chartValues(p, tc.bgp, !tc.bgp)
			if want := fmt.Sprintf("proxy: {enabled: %t}", !tc.bgp); !strings.Contains(v, want) {
				t.Errorf("chart values lack %s:\n%s", want, v)
			}
			for _, want := range tc.want {
				if !strings.Contains(v, want) {
					t.Errorf("chart values lack %s:\n%s", want, v)
				}
			}
			for _, not := range tc.wantNot {
				if strings.Contains(v, not) {
					t.Errorf("chart values hold %s:\n%s", not, v)
				}
			}
		})
	}
}

func TestServiceAccounts(t *testing.T) {
	rendered := `---
# Source: frontdesk/templates/controller-extras.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  labels: {app.kubernetes.io/component: controller}
  name: frontdesk-controller
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  labels: {app.kubernetes.io/component: speaker}
  name: not-an-account
---
apiVersion: v1
kind: ServiceAccount
metadata:
  labels: {app.kubernetes.io/component: speaker}
  name: x-speaker
`
	got, err := serviceAccounts([]byte(rendered))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"controller": "frontdesk-controller", "speaker": "x-speaker"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("serviceAccounts (-want +got):\n%s", diff)
	}
}
