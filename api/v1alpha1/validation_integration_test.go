//go:build integration

package v1alpha1_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestAPIServerValidation installs the chart's CRDs in a real kube-apiserver and checks that it
// accepts and refuses the same objects as the unit tests' CEL evaluation, with the same
// messages, plus what only the server checks (OpenAPI limits, list types).
func TestAPIServerValidation(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	fd, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("IPPool", func(t *testing.T) {
		for i, tt := range ipPoolCases {
			t.Run(tt.name, func(t *testing.T) {
				p := pool(tt.addresses...)
				p.Name = fmt.Sprintf("case-%d", i)
				_, err := fd.IPPools().Create(ctx, p, metav1.CreateOptions{})
				checkInvalid(t, err, tt.want)
			})
		}
	})

	t.Run("IPPool schema", func(t *testing.T) {
		many := make([]string, 65)
		for i := range many {
			many[i] = fmt.Sprintf("198.51.100.%d/32", i)
		}
		for _, tt := range []struct {
			name      string
			addresses []string
			want      []string // substrings of the error, which must be Invalid
		}{
			{"duplicate entry", []string{"198.51.100.0/24", "198.51.100.0/24"}, []string{`spec.addresses[1]: Duplicate value: "198.51.100.0/24"`}},
			{"no entry", []string{}, []string{"spec.addresses: Invalid value: 0: spec.addresses in body should have at least 1 items"}},
			{"too many entries", many, []string{"spec.addresses: Too many: 65: must have at most 64 items"}},
			{"entry too long", []string{strings.Repeat("0", 90) + "1::/64"}, []string{"spec.addresses[0]: Too long: may not be more than 91 bytes"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := pool(tt.addresses...)
				p.Name = "schema"
				_, err := fd.IPPools().Create(ctx, p, metav1.CreateOptions{})
				if !apierrors.IsInvalid(err) {
					t.Fatalf("Create: %v; want Invalid", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			})
		}
	})

	t.Run("IPPool defaults", func(t *testing.T) {
		p := pool("203.0.113.0/24")
		p.Name = "defaults"
		got, err := fd.IPPools().Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.AutoAssign == nil || !*got.Spec.AutoAssign || got.Spec.Priority != 0 {
			t.Errorf("autoAssign %v, priority %d; want true, 0", got.Spec.AutoAssign, got.Spec.Priority)
		}
	})

	t.Run("IPAllocation", func(t *testing.T) {
		for _, tt := range ipAllocationCases {
			t.Run(tt.name, func(t *testing.T) {
				allocs := fd.IPAllocations()
				obj := tt.obj.DeepCopy()
				if tt.old == nil {
					_, err := allocs.Create(ctx, obj, metav1.CreateOptions{})
					checkInvalid(t, err, tt.want)
				} else {
					old, err := allocs.Create(ctx, tt.old.DeepCopy(), metav1.CreateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					obj.ResourceVersion = old.ResourceVersion
					_, err = allocs.Update(ctx, obj, metav1.UpdateOptions{})
					checkInvalid(t, err, tt.want)
				}
				if err := allocs.Delete(ctx, obj.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Fatal(err)
				}
			})
		}
	})

	t.Run("L2Advertisement", func(t *testing.T) {
		for i, tt := range l2AdvertisementCases {
			t.Run(tt.name, func(t *testing.T) {
				a := l2Advertisement(tt.pools, tt.ifaces)
				a.Name = fmt.Sprintf("case-%d", i)
				_, err := fd.L2Advertisements().Create(ctx, a, metav1.CreateOptions{})
				checkInvalid(t, err, tt.want)
			})
		}
	})

	t.Run("L2Advertisement schema", func(t *testing.T) {
		// When an OpenAPI limit fails, the server skips the CEL rules and says so.
		const skipped = "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
		many := make([]string, 65)
		for i := range many {
			many[i] = fmt.Sprintf("eth%d", i)
		}
		for _, tt := range []struct {
			name          string
			pools, ifaces []string
			want          []string // the causes, which must be Invalid
		}{
			{"interface too long", nil, []string{"eth0", "abcdefghijklmnop"}, []string{
				"spec.interfaces[1]: Too long: may not be more than 15 bytes", skipped}},
			{"empty interface", nil, []string{""}, []string{
				`spec.interfaces[0]: Invalid value: "": spec.interfaces[0] in body should be at least 1 chars long`,
				badInterface("0", "", "it is empty")}},
			{"duplicate interface", nil, []string{"eth0", "eth0"}, []string{`spec.interfaces[1]: Duplicate value: "eth0"`}},
			{"too many interfaces", nil, many, []string{"spec.interfaces: Too many: 65: must have at most 64 items", skipped}},
			{"duplicate pool", []string{"blue", "blue"}, nil, []string{`spec.ipPools[1]: Duplicate value: "blue"`}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := l2Advertisement(tt.pools, tt.ifaces)
				a.Name = "schema"
				_, err := fd.L2Advertisements().Create(ctx, a, metav1.CreateOptions{})
				checkInvalid(t, err, tt.want)
			})
		}
	})

	t.Run("IPAllocation status", func(t *testing.T) {
		allocs := fd.IPAllocations()
		for _, tt := range announcerCases {
			t.Run(tt.name, func(t *testing.T) {
				created, err := allocs.Create(ctx, tt.obj.DeepCopy(), metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := allocs.Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
						t.Error(err)
					}
				}()
				// The status of a Create is dropped: only the status subresource writes it.
				if len(created.Status.Announcers) != 0 {
					t.Errorf("Create kept status %+v", created.Status)
				}
				upd := created.DeepCopy()
				upd.Status = tt.obj.Status
				upd.Spec.Pool = "other" // ignored by the status subresource, so not refused as immutable
				upd.Spec.SharingKey = "k"
				got, err := allocs.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
				checkInvalid(t, err, tt.want)
				if err != nil {
					return
				}
				if d := cmp.Diff(created.Spec, got.Spec); d != "" {
					t.Errorf("a status write changed spec (-want +got):\n%s", d)
				}
				if d := cmp.Diff(tt.obj.Status, got.Status); d != "" {
					t.Errorf("status (-want +got):\n%s", d)
				}
				// A spec write leaves the speakers' status alone.
				spec := got.DeepCopy()
				spec.Spec.SharingKey = "k"
				spec.Status = v1alpha1.IPAllocationStatus{}
				got, err = allocs.Update(ctx, spec, metav1.UpdateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.obj.Status, got.Status); d != "" || got.Spec.SharingKey != "k" {
					t.Errorf("after a spec Update: sharing key %q, status (-want +got):\n%s", got.Spec.SharingKey, d)
				}
			})
		}
	})
}

// checkInvalid checks that err is nil when want is empty, and otherwise an Invalid error whose
// causes are want ("field: message", in any order).
func checkInvalid(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		t.Fatalf("got %v; want Invalid with causes %q", err, want)
	}
	var got []string
	for _, c := range status.Status().Details.Causes {
		got = append(got, c.Field+": "+c.Message)
	}
	if d := cmp.Diff(want, got, sortStrings); d != "" {
		t.Errorf("causes (-want +got):\n%s\nerror: %v", d, err)
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})
