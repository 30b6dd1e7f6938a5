package supervisor

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Options{Name: "fdlab", Dir: "/run/frontdesk-lab/fdlab", Nodes: 3, Proxy: ProxyKubeProxy, K8sBin: "/k8s"}
	for _, tc := range []struct {
		name    string
		change  func(*Options)
		wantErr string // substring; empty: valid
	}{
		{name: "defaults", change: func(*Options) {}},
		{name: "frontdesk proxy not yet", change: func(o *Options) { o.Proxy = ProxyFrontdesk }, wantErr: "#7"},
		{name: "unknown proxy", change: func(o *Options) { o.Proxy = "ipvs" }, wantErr: "accepted: kube-proxy"},
		{name: "bad name", change: func(o *Options) { o.Name = "Lab!" }, wantErr: "lower-case"},
		{name: "no nodes", change: func(o *Options) { o.Nodes = 0 }, wantErr: "1 to 9"},
		{name: "no k8s binaries", change: func(o *Options) { o.K8sBin = "" }, wantErr: "must be set"},
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

func TestManifests(t *testing.T) {
	o := Options{Name: "fdlab", Nodes: 3}
	p, _ := o.Plan()
	m := manifests(p)
	for _, want := range []string{"kind: IPPool", `addresses: ["198.18.0.200-198.18.0.250"]`, "kind: L2Advertisement", "ipPools: [lan]"} {
		if !strings.Contains(m, want) {
			t.Errorf("manifests lack %s:\n%s", want, m)
		}
	}
}
