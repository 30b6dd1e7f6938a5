//go:build integration

package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestAPIServerValidationBGP checks BGPPeer and BGPAdvertisement against a real kube-apiserver:
// the same verdicts and messages as the unit tests' CEL evaluation, plus the OpenAPI limits
// (ASN range, port, timers) that only the server checks.
func TestAPIServerValidationBGP(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	create := func(t *testing.T, obj runtime.Object, name string) (*unstructured.Unstructured, error) {
		t.Helper()
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetName(name)
		res := v1alpha1.BGPPeersResource
		if u.GetKind() == "BGPAdvertisement" {
			res = v1alpha1.BGPAdvertisementsResource
		}
		return dyn.Resource(res).Create(ctx, u, metav1.CreateOptions{})
	}

	t.Run("BGPPeer", func(t *testing.T) {
		for i, tt := range bgpPeerCases {
			t.Run(tt.name, func(t *testing.T) {
				_, err := create(t, tt.obj, fmt.Sprintf("case-%d", i))
				checkInvalid(t, err, tt.want)
			})
		}
	})

	t.Run("BGPPeer defaults", func(t *testing.T) {
		p := bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
			s.BFD = &v1alpha1.BFDSettings{}
			s.GracefulRestart = &v1alpha1.GracefulRestartSettings{}
			s.PasswordSecret = &v1alpha1.SecretKeyRef{Name: "bgp"}
		})
		u, err := create(t, p, "defaults")
		if err != nil {
			t.Fatal(err)
		}
		var got v1alpha1.BGPPeer
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
			t.Fatal(err)
		}
		want := v1alpha1.BFDSettings{ReceiveIntervalMilliseconds: 300, TransmitIntervalMilliseconds: 300, DetectMultiplier: 3}
		if got.Spec.Port != 179 || *got.Spec.BFD != want || got.Spec.GracefulRestart.RestartTimeSeconds != 120 || got.Spec.PasswordSecret.Key != "password" {
			t.Errorf("defaults: port %d, bfd %+v, graceful restart %+v, secret %+v", got.Spec.Port, *got.Spec.BFD,
				*got.Spec.GracefulRestart, *got.Spec.PasswordSecret)
		}
	})

	t.Run("BGPPeer schema", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			obj  *v1alpha1.BGPPeer
			want string // a substring of the Invalid error
		}{
			{"ASN 0", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.PeerASN = 0 }), "spec.peerASN: Invalid value: 0: spec.peerASN in body should be greater than or equal to 1"},
			{"ASN above 32 bits", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.LocalASN = 4294967296 }), "spec.localASN: Invalid value: 4294967296: spec.localASN in body should be less than or equal to 4294967295"},
			{"port above 65535", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.Port = 70000 }), "spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535"},
			{"multihop 1", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.EBGPMultiHop = ptr[int32](1) }), "spec.ebgpMultiHop: Invalid value: 1: spec.ebgpMultiHop in body should be greater than or equal to 2"},
			{"BFD interval 1 ms", bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
				s.BFD = &v1alpha1.BFDSettings{ReceiveIntervalMilliseconds: 1}
			}), "spec.bfd.receiveIntervalMilliseconds: Invalid value: 1: spec.bfd.receiveIntervalMilliseconds in body should be greater than or equal to 10"},
			// The prefix limit bounds the speakers' memory (issue 17): no 0 (no route at all is
			// not a limit GoBGP takes) and no ten million and one.
			{"maxPrefixes 0", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.MaxPrefixes = ptr[int32](0) }), "spec.maxPrefixes: Invalid value: 0: spec.maxPrefixes in body should be greater than or equal to 1"},
			{"maxPrefixes negative", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.MaxPrefixes = ptr[int32](-1) }), "spec.maxPrefixes: Invalid value: -1: spec.maxPrefixes in body should be greater than or equal to 1"},
			{"maxPrefixes above ten million", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.MaxPrefixes = ptr[int32](10_000_001) }), "spec.maxPrefixes: Invalid value: 10000001: spec.maxPrefixes in body should be less than or equal to 10000000"},
			{"maxPrefixRestartSeconds 4", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.MaxPrefixRestartSeconds = ptr[int32](4) }), "spec.maxPrefixRestartSeconds: Invalid value: 4: spec.maxPrefixRestartSeconds in body should be greater than or equal to 5"},
			{"maxPrefixRestartSeconds above a day", bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.MaxPrefixRestartSeconds = ptr[int32](86401) }), "spec.maxPrefixRestartSeconds: Invalid value: 86401: spec.maxPrefixRestartSeconds in body should be less than or equal to 86400"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := create(t, tt.obj, "schema")
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("got %v; want Invalid containing %q", err, tt.want)
				}
			})
		}
	})

	t.Run("BGPPeer bounds accepted", func(t *testing.T) {
		for i, tt := range []struct{ maxPrefixes, restart int32 }{{1, 5}, {10_000_000, 86400}} {
			p := bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
				s.MaxPrefixes, s.MaxPrefixRestartSeconds = ptr(tt.maxPrefixes), ptr(tt.restart)
			})
			if _, err := create(t, p, fmt.Sprintf("bounds-%d", i)); err != nil {
				t.Errorf("maxPrefixes %d, maxPrefixRestartSeconds %d: %v; want accepted", tt.maxPrefixes, tt.restart, err)
			}
		}
	})

	t.Run("BGPAdvertisement", func(t *testing.T) {
		for i, tt := range bgpAdvertisementCases {
			t.Run(tt.name, func(t *testing.T) {
				_, err := create(t, tt.obj, fmt.Sprintf("case-%d", i))
				checkInvalid(t, err, tt.want)
			})
		}
	})

	t.Run("BGPPeer status", func(t *testing.T) {
		u, err := create(t, bgpPeer(), "status")
		if err != nil {
			t.Fatal(err)
		}
		since := metav1.NewTime(time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC))
		st, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&v1alpha1.BGPPeerStatus{Sessions: []v1alpha1.BGPSession{
			{Node: "n1", State: v1alpha1.BGPSessionEstablished, Since: &since, RoutesAdvertised: 3, BFD: "Up"},
			{Node: "n2", State: "Broken"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		u.Object["status"] = st
		_, err = dyn.Resource(v1alpha1.BGPPeersResource).UpdateStatus(ctx, u, metav1.UpdateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `status.sessions[1].state: Unsupported value: "Broken"`) {
			t.Errorf("got %v; want the state Broken refused", err)
		}
	})
}
