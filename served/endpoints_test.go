package served

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func TestConditionsOf(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	for _, tt := range []struct {
		name     string
		in       discoveryv1.EndpointConditions
		want     Conditions
		fallback bool
	}{
		// As kube-proxy reads them: nil Ready and Serving are true, nil Terminating false.
		{"all nil", discoveryv1.EndpointConditions{}, Conditions{Ready: true, Serving: true}, false},
		{"ready", discoveryv1.EndpointConditions{Ready: yes, Serving: yes, Terminating: no}, Conditions{Ready: true, Serving: true}, false},
		{"not ready", discoveryv1.EndpointConditions{Ready: no, Serving: no, Terminating: no}, Conditions{}, false},
		{"terminating, serving", discoveryv1.EndpointConditions{Ready: no, Serving: yes, Terminating: yes},
			Conditions{Serving: true, Terminating: true}, true},
		{"terminating, serving nil", discoveryv1.EndpointConditions{Ready: no, Terminating: yes},
			Conditions{Serving: true, Terminating: true}, true},
		{"terminating, not serving", discoveryv1.EndpointConditions{Ready: no, Serving: no, Terminating: yes},
			Conditions{Terminating: true}, false},
		{"not ready, serving, not terminating", discoveryv1.EndpointConditions{Ready: no, Serving: yes},
			Conditions{Serving: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ConditionsOf(tt.in)
			if got != tt.want {
				t.Errorf("ConditionsOf = %+v, want %+v", got, tt.want)
			}
			if got.Fallback() != tt.fallback {
				t.Errorf("Fallback = %v, want %v", got.Fallback(), tt.fallback)
			}
		})
	}
}

func TestLocalServes(t *testing.T) {
	for _, tt := range []struct {
		name string
		l    Local
		want bool
	}{
		{"ready here", Local{Ready: true, AnyReady: true}, true},
		{"ready here and terminating", Local{Ready: true, Fallback: true, AnyReady: true}, true},
		{"only terminating here, ready elsewhere", Local{Fallback: true, AnyReady: true}, false},
		{"only terminating here, none ready anywhere", Local{Fallback: true}, true},
		{"nothing here, ready elsewhere", Local{AnyReady: true}, false},
		{"nothing anywhere", Local{}, false},
	} {
		if got := tt.l.Serves(); got != tt.want {
			t.Errorf("%s: Serves = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSliceOf(t *testing.T) {
	slice := func(label bool, at discoveryv1.AddressType) *discoveryv1.EndpointSlice {
		s := objects.EndpointSlice("ns", "web-x", "web", objects.WithAddressType(at))
		if !label {
			delete(s.Labels, discoveryv1.LabelServiceName)
		}
		return s
	}
	web := types.NamespacedName{Namespace: "ns", Name: "web"}
	for _, tt := range []struct {
		name   string
		s      *discoveryv1.EndpointSlice
		want   types.NamespacedName
		family int
		ok     bool
	}{
		{"IPv4", slice(true, discoveryv1.AddressTypeIPv4), web, 0, true},
		{"IPv6", slice(true, discoveryv1.AddressTypeIPv6), web, 1, true},
		{"FQDN: no backend kube-proxy uses", slice(true, discoveryv1.AddressTypeFQDN), types.NamespacedName{}, 0, false},
		{"no Service label", slice(false, discoveryv1.AddressTypeIPv4), types.NamespacedName{}, 0, false},
		{"nil", nil, types.NamespacedName{}, 0, false},
	} {
		svc, f, ok := SliceOf(tt.s)
		if svc != tt.want || f != tt.family || ok != tt.ok {
			t.Errorf("%s: SliceOf = %v, %d, %v; want %v, %d, %v", tt.name, svc, f, ok, tt.want, tt.family, tt.ok)
		}
	}
}
