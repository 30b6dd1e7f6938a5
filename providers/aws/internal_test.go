package aws

import "testing"

func TestRegionOf(t *testing.T) {
	for zone, want := range map[string]string{"eu-west-1a": "eu-west-1", "us-east-1-bos-1a": "us-east-1", "ap-southeast-2c": "ap-southeast-2", "": ""} {
		if got := regionOf(zone); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", zone, got, want)
		}
	}
}

func TestRefFromHostname(t *testing.T) {
	for host, want := range map[string]lbRef{
		"k8s-shop-web-0123456789-abcdef0123456789.elb.eu-west-1.amazonaws.com":     {name: "k8s-shop-web-0123456789"},
		"internal-k8s-shop-web-0123456789-1234567.eu-west-1.elb.amazonaws.com":     {name: "k8s-shop-web-0123456789", classic: true},
		"k8s-shop-web-0123456789-1000000001.eu-west-1.elb.amazonaws.com":           {name: "k8s-shop-web-0123456789", classic: true},
		"internal-k8s-a-b-0123456789-0123456789abcdef.elb.eu-west-1.amazonaws.com": {name: "k8s-a-b-0123456789"},
	} {
		got, ok := refFromHostname(host)
		if !ok || got != want {
			t.Errorf("refFromHostname(%q) = %+v, %v; want %+v", host, got, ok, want)
		}
	}
	for _, bad := range []string{"", "lb.example.com", "nodash.elb.eu-west-1.amazonaws.com"} {
		if _, ok := refFromHostname(bad); ok {
			t.Errorf("refFromHostname(%q) accepted", bad)
		}
	}
}
