package supervisor

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestReleaseValues(t *testing.T) {
	p, _ := Options{Name: "fdlab", Nodes: 3}.Plan()
	type values struct {
		Image      struct{ Registry string }
		Controller struct {
			Image       struct{ Tag string }
			Controllers []string
		}
		Speaker struct {
			Image                 struct{ Tag string }
			KubernetesServiceHost string
			KubernetesServicePort string
			BootIDConfigMap       string
			ExtraArgs             []string
		}
		Proxy    struct{ Enabled bool }
		Announce struct {
			BGP struct {
				Enabled bool
				ASN     uint32
			}
		}
		IPPools []struct {
			Name string
			Spec struct {
				Addresses     []string
				AutoAssign    *bool
				AvoidBuggyIPs bool
			}
		}
		BGPPeers []struct {
			Name string
			Spec map[string]any
		}
		L2Advertisements []struct {
			Name string
			Spec map[string]any
		}
		BGPAdvertisements []struct {
			Name string
			Spec map[string]any
		}
	}
	for _, tc := range []struct {
		bgp, proxy bool
	}{{false, true}, {true, false}, {true, true}} {
		out, err := releaseValues(releaseSpec{plan: p, bgp: tc.bgp, proxy: tc.proxy, apiServer: "https://198.18.0.2:41234",
			registry: "localhost", tag: "v0.1.0-7-gabcdef0"})
		if err != nil {
			t.Fatal(err)
		}
		var v values
		if err := yaml.UnmarshalStrict(out, &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if v.Image.Registry != "localhost" || v.Controller.Image.Tag != "v0.1.0-7-gabcdef0" || v.Speaker.Image.Tag != v.Controller.Image.Tag {
			t.Errorf("images: %+v %+v %+v", v.Image, v.Controller.Image, v.Speaker.Image)
		}
		if v.Speaker.KubernetesServiceHost != "198.18.0.2" || v.Speaker.KubernetesServicePort != "41234" {
			t.Errorf("speaker reaches the API server at %s:%s", v.Speaker.KubernetesServiceHost, v.Speaker.KubernetesServicePort)
		}
		if v.Speaker.BootIDConfigMap != BootIDConfigMap {
			t.Errorf("speaker boot IDs from %q, want %q (the nodes share one kernel)", v.Speaker.BootIDConfigMap, BootIDConfigMap)
		}
		if v.Proxy.Enabled != tc.proxy || (len(v.Speaker.ExtraArgs) > 0) != tc.proxy {
			t.Errorf("proxy %t: enabled %t, speaker args %q", tc.proxy, v.Proxy.Enabled, v.Speaker.ExtraArgs)
		}
		if tc.proxy && !strings.Contains(strings.Join(v.Speaker.ExtraArgs, " "), "--proxy-nodeport-addresses=198.18.0.0/24") {
			t.Errorf("speaker args %q", v.Speaker.ExtraArgs)
		}
		wantPools := 1
		if tc.bgp {
			wantPools = 2
			if !v.Announce.BGP.Enabled || v.Announce.BGP.ASN != p.NodeASN || len(v.BGPPeers) != 1 {
				t.Errorf("bgp: %+v peers %+v", v.Announce.BGP, v.BGPPeers)
			} else if bfd, want := v.BGPPeers[0].Spec["bfd"], map[string]any{"receiveIntervalMilliseconds": 200.0,
				"transmitIntervalMilliseconds": 200.0, "detectMultiplier": 3.0}; !reflect.DeepEqual(bfd, want) {
				t.Errorf("the BGPPeer's BFD %v, want the router's timers %v", bfd, want)
			}
			if bp := v.IPPools[1]; bp.Name != BGPPoolName || bp.Spec.AutoAssign == nil || *bp.Spec.AutoAssign {
				t.Errorf("the BGP pool must not auto-assign: %+v", bp)
			}
		} else if v.Announce.BGP.Enabled || len(v.BGPPeers) != 0 {
			t.Errorf("BGP off, yet %+v %+v", v.Announce.BGP, v.BGPPeers)
		}
		if len(v.IPPools) != wantPools || v.IPPools[0].Spec.Addresses[0] != p.L2Pool {
			t.Errorf("pools %+v", v.IPPools)
		}
	}
	if _, err := releaseValues(releaseSpec{plan: p, apiServer: "198.18.0.2"}); err == nil {
		t.Error("an API server without scheme and port: no error")
	}
}
