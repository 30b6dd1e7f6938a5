package supervisor

import (
	"strings"
	"testing"
)

func TestFindDeployImages(t *testing.T) {
	all := []string{"localhost/frontdesk-lb/frontdesk-controller:v0.2.0-3-gabc", "localhost/frontdesk-lb/frontdesk-speaker:v0.2.0-3-gabc",
		"busybox:latest", "coredns/coredns:v1.15.0", "kube-proxy:v1.37.2", "pause:3.10.2"}
	d, err := findDeployImages(all)
	if err != nil {
		t.Fatal(err)
	}
	if d.registry != "localhost" || d.tag != "v0.2.0-3-gabc" || d.coreDNS != "coredns/coredns:v1.15.0" || d.kubeProxy != "kube-proxy:v1.37.2" {
		t.Errorf("got %+v", d)
	}
	for name, tc := range map[string]struct {
		names []string
		want  string
	}{
		"no frontdesk images": {all[2:], "make images"},
		"tags differ":         {append([]string{"localhost/frontdesk-lb/frontdesk-controller:a", "localhost/frontdesk-lb/frontdesk-speaker:b"}, all[3:]...), "differ"},
		"no coredns":          {all[:3], "coredns"},
	} {
		if _, err := findDeployImages(tc.names); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}
