package supervisor

import (
	"strings"
	"testing"
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
