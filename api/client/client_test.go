package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// request is what the fake API server saw.
type request struct {
	Method, Path, Query, ContentType string
}

// fakeServer answers every request with body and records the requests.
func fakeServer(t *testing.T, body any) (*rest.Config, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var seen []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

// TestRequests checks the URL, verb and body type of each call; the integration test checks
// them against a real API server.
func TestRequests(t *testing.T) {
	pool := &v1alpha1.IPPool{
		TypeMeta:   metav1.TypeMeta{Kind: "IPPool", APIVersion: "frontdesk.dev/v1alpha1"},
		ObjectMeta: metav1.ObjectMeta{Name: "blue"},
		Spec:       v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}},
	}
	cfg, seen := fakeServer(t, pool)
	c, err := NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const base = "/apis/frontdesk.dev/v1alpha1/"
	got, err := c.IPPools().Get(ctx, "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pool.Spec, got.Spec); d != "" {
		t.Errorf("decoded spec (-want +got):\n%s", d)
	}
	calls := []func() error{
		func() error { _, err := c.IPPools().Create(ctx, pool, metav1.CreateOptions{}); return err },
		func() error { _, err := c.IPPools().Update(ctx, pool, metav1.UpdateOptions{}); return err },
		func() error { _, err := c.IPPools().UpdateStatus(ctx, pool, metav1.UpdateOptions{}); return err },
		func() error {
			_, err := c.IPPools().Patch(ctx, "blue", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}, "status")
			return err
		},
		func() error { return c.IPPools().Delete(ctx, "blue", metav1.DeleteOptions{}) },
		func() error { _, err := c.IPAllocations().Get(ctx, "2001-db8--7", metav1.GetOptions{}); return err },
		func() error {
			_, err := c.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{}, metav1.CreateOptions{})
			return err
		},
		func() error {
			a := &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: "2001-db8--7"}}
			_, err := c.IPAllocations().UpdateStatus(ctx, a, metav1.UpdateOptions{})
			return err
		},
		func() error {
			_, err := c.L2Advertisements().Create(ctx, &v1alpha1.L2Advertisement{}, metav1.CreateOptions{})
			return err
		},
		func() error {
			a := &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"}}
			_, err := c.L2Advertisements().Update(ctx, a, metav1.UpdateOptions{})
			return err
		},
		func() error { _, err := c.L2Advertisements().List(ctx, metav1.ListOptions{}); return err },
		func() error { return c.L2Advertisements().Delete(ctx, "l2", metav1.DeleteOptions{}) },
	}
	for _, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	want := []request{
		{"GET", base + "ippools/blue", "", ""},
		{"POST", base + "ippools", "", "application/json"},
		{"PUT", base + "ippools/blue", "", "application/json"},
		{"PUT", base + "ippools/blue/status", "", "application/json"},
		{"PATCH", base + "ippools/blue/status", "", "application/merge-patch+json"},
		{"DELETE", base + "ippools/blue", "", "application/json"},
		{"GET", base + "ipallocations/2001-db8--7", "", ""},
		{"POST", base + "ipallocations", "", "application/json"},
		{"PUT", base + "ipallocations/2001-db8--7/status", "", "application/json"},
		{"POST", base + "l2advertisements", "", "application/json"},
		{"PUT", base + "l2advertisements/l2", "", "application/json"},
		{"GET", base + "l2advertisements", "", ""},
		{"DELETE", base + "l2advertisements/l2", "", "application/json"},
	}
	if d := cmp.Diff(want, seen()); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestListOptionsEncoding(t *testing.T) {
	cfg, seen := fakeServer(t, &v1alpha1.IPAllocationList{
		TypeMeta: metav1.TypeMeta{Kind: "IPAllocationList", APIVersion: "frontdesk.dev/v1alpha1"},
	})
	c, err := NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IPAllocations().List(context.Background(), metav1.ListOptions{LabelSelector: "a=b", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	want := []request{{"GET", "/apis/frontdesk.dev/v1alpha1/ipallocations", "labelSelector=a%3Db&limit=5", ""}}
	if d := cmp.Diff(want, seen()); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

// The generated listers read an informer's cache and name the resource in NotFound errors
// (v1alpha1.Resource).
func TestListers(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := idx.Add(&v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: "2001-db8--7"},
		Spec: v1alpha1.IPAllocationSpec{Pool: "blue"}}); err != nil {
		t.Fatal(err)
	}
	a, err := fdlisters.NewIPAllocationLister(idx).Get("2001-db8--7")
	if err != nil || a.Spec.Pool != "blue" {
		t.Errorf("lister.Get = %v, %v", a, err)
	}
}

// The cloud-controller-manager hands out configs with protobuf set for the built-in types; custom
// resources have no protobuf encoding, so the client must talk JSON whatever the config says.
func TestProtobufConfigStillSpeaksJSON(t *testing.T) {
	cfg, seen := fakeServer(t, &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.7"}})
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	obj := &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.7"},
		Spec: v1alpha1.IPAllocationSpec{Address: "198.51.100.7", Pool: "blue"}}
	if _, err := c.IPAllocations().Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Create with a protobuf config: %v", err)
	}
	if got := seen(); len(got) != 1 || got[0].ContentType != "application/json" {
		t.Fatalf("requests %+v, want one JSON request", got)
	}
}

func TestL2AdvertisementLister(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := idx.Add(&v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"},
		Spec: v1alpha1.L2AdvertisementSpec{Interfaces: []string{"eth0"}}}); err != nil {
		t.Fatal(err)
	}
	lister := fdlisters.NewL2AdvertisementLister(idx)
	a, err := lister.Get("l2")
	if err != nil || a.Spec.Interfaces[0] != "eth0" {
		t.Errorf("lister.Get = %v, %v", a, err)
	}
	_, err = lister.Get("other")
	if got, want := fmt.Sprint(err), `l2advertisement.frontdesk.dev "other" not found`; got != want {
		t.Errorf("lister.Get of a missing name: %s, want %s", got, want)
	}
}
