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
	"github.com/frontdesk-lb/frontdesk/test/cluster"
)

// TestAPIServerValidation installs the chart's CRDs in a real kube-apiserver and checks that it
// accepts and refuses the same objects as the unit tests' CEL evaluation, with the same
// messages, plus what only the server checks (OpenAPI limits, list types).
func TestAPIServerValidation(t *testing.T) {
	c := cluster.Start(t)
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
