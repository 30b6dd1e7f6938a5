package aws_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	frontdeskaws "github.com/frontdesk-lb/frontdesk/providers/aws"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// A kill is simulated by cancelling the reconcile's context at one AWS call:
// "before" the call runs (the process died sending it) or "after" it ran and
// its answer was lost (the process died reading it). Either way the next
// process starts from what AWS holds.
var killModes = []struct {
	name string
	err  error
}{
	{"before", fakeaws.ErrDropConnection},
	{"after", fakeaws.ErrDropResponse},
}

// killAt makes call index i (counting from now) cancel ctx.
func (e *env) killAt(i int, mode error) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	e.fake.ResetCalls()
	e.fake.OnCall(func(c fakeaws.Call) error {
		if c.Index == i && ctx.Err() == nil {
			cancel()
			return mode
		}
		return nil
	})
	return ctx, cancel
}

func gone(string, string) (*v1.Service, bool, error) { return nil, false, nil }

// sweepClean runs the sweep as if the Service were deleted and checks that
// nothing owned is left.
func (e *env) sweepClean(t *testing.T) {
	t.Helper()
	// Two passes: a target or security group is only deleted by a second
	// pass when its Service still exists; with the Service gone, one pass
	// must be enough, so the first pass is checked alone.
	if _, err := e.cloud.Sweep(context.Background(), gone, nil, false); err != nil {
		var retry interface{ Error() string }
		if !errors.As(err, &retry) {
			t.Fatal(err)
		}
		// A dependency still in use: the next pass finishes.
		if _, err := e.cloud.Sweep(context.Background(), gone, nil, false); err != nil {
			t.Fatalf("second sweep: %v", err)
		}
	}
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after the sweep: %v", left)
	}
}

func TestKillDuringCreate(t *testing.T) {
	for _, lbType := range []string{"nlb", "clb"} {
		t.Run(lbType, func(t *testing.T) {
			base := newEnv(t, envOption{})
			svc := newService("killed", objects.WithAnnotations("service.beta.kubernetes.io/aws-load-balancer-type", lbType))
			base.fake.ResetCalls()
			base.mustEnsure(svc)
			calls := len(base.fake.Calls())
			wantKinds := base.kinds()
			if calls < 5 {
				t.Fatalf("a create took %d calls; the test would prove little", calls)
			}
			for i := range calls {
				for _, mode := range killModes {
					t.Run(fmt.Sprintf("call %d %s", i, mode.name), func(t *testing.T) {
						for _, after := range []string{"resumed", "swept"} {
							e := newEnv(t, envOption{})
							svc := newService("killed", objects.WithAnnotations("service.beta.kubernetes.io/aws-load-balancer-type", lbType))
							ctx, cancel := e.killAt(i, mode.err)
							_, err := e.cloud.EnsureLoadBalancer(ctx, cluster, svc, e.nodes)
							cancel()
							if err == nil {
								t.Fatalf("killed at call %d (%s), EnsureLoadBalancer succeeded", i, e.fake.Calls()[i].Action)
							}
							if after == "resumed" {
								e.mustEnsure(svc)
								if got := e.kinds(); got != wantKinds {
									t.Errorf("after a kill at %s and a new run: %s, want %s", e.fake.Calls()[i].Action, got, wantKinds)
								}
								e.mustDelete(svc)
								if left := e.owned(); len(left) != 0 {
									t.Errorf("left after delete: %v", left)
								}
							} else {
								e.sweepClean(t)
							}
						}
					})
				}
			}
		})
	}
}

func TestKillDuringDelete(t *testing.T) {
	for _, lbType := range []string{"nlb", "clb"} {
		t.Run(lbType, func(t *testing.T) {
			base := newEnv(t, envOption{})
			svc := newService("killed", objects.WithAnnotations("service.beta.kubernetes.io/aws-load-balancer-type", lbType))
			base.mustEnsure(svc)
			base.fake.ResetCalls()
			base.mustDelete(svc)
			calls := len(base.fake.Calls())
			for i := range calls {
				for _, mode := range killModes {
					t.Run(fmt.Sprintf("call %d %s", i, mode.name), func(t *testing.T) {
						for _, after := range []string{"resumed", "swept"} {
							e := newEnv(t, envOption{})
							svc := newService("killed", objects.WithAnnotations("service.beta.kubernetes.io/aws-load-balancer-type", lbType))
							e.mustEnsure(svc)
							ctx, cancel := e.killAt(i, mode.err)
							err := e.cloud.EnsureLoadBalancerDeleted(ctx, cluster, svc)
							cancel()
							if err == nil && len(e.owned()) != 0 {
								t.Fatalf("killed at call %d, EnsureLoadBalancerDeleted succeeded with resources left", i)
							}
							if after == "resumed" {
								e.mustDelete(svc)
								if left := e.owned(); len(left) != 0 {
									t.Errorf("left after delete: %v", left)
								}
							} else {
								e.sweepClean(t)
							}
						}
					})
				}
			}
		})
	}
}

func TestSweep(t *testing.T) {
	e := newEnv(t, envOption{})
	kept := newService("kept")
	orphan := newService("orphan")
	e.mustEnsure(kept)
	e.mustEnsure(orphan)
	lookup := func(ns, name string) (*v1.Service, bool, error) {
		if name == kept.Name {
			return kept, true, nil
		}
		return nil, false, nil
	}
	before := e.kinds()
	rec := record.NewFakeRecorder(100)
	found, err := e.cloud.Sweep(context.Background(), lookup, rec, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 4 || e.kinds() != before {
		t.Errorf("dry run found %d resources (want the orphan's LB, 2 target groups and security group) and left %s (want %s)", len(found), e.kinds(), before)
	}
	if n := len(rec.Events); n != 4 {
		t.Errorf("dry run recorded %d events, want 4", n)
	}
	for range len(rec.Events) {
		// The Service's owner reads these: names, never ARNs or the account.
		if ev := <-rec.Events; strings.Contains(ev, "arn:") || strings.Contains(ev, "123456789012") {
			t.Errorf("sweep Event %q shows an ARN or the account ID", ev)
		}
	}
	for _, s := range found {
		if s.Owner.UID != string(orphan.UID) {
			t.Errorf("dry run would delete %s %s of %s", s.Kind, s.Name, s.Owner.Name)
		}
	}
	if _, err := e.cloud.Sweep(context.Background(), lookup, rec, false); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.owned() {
		if r.Tags["frontdesk.dev/service-uid"] == string(orphan.UID) {
			t.Errorf("the sweep left %s %s", r.Kind, r.ID)
		}
	}
	if got, want := e.kinds(), "listener=2 load-balancer=1 security-group=1 target-group=2"; got != want {
		t.Errorf("after the sweep: %s, want the kept Service's %s", got, want)
	}
	// A re-created Service (same name, new UID) does not own the old resources.
	recreated := newService("kept")
	if _, err := e.cloud.Sweep(context.Background(), func(string, string) (*v1.Service, bool, error) { return recreated, true, nil }, nil, false); err != nil {
		t.Fatal(err)
	}
	if left := e.owned(); len(left) != 0 {
		t.Errorf("resources of a deleted-and-recreated Service survived: %v", left)
	}
	// When the API server cannot say, nothing goes.
	other := newService("unsure")
	e.mustEnsure(other)
	unsure := func(string, string) (*v1.Service, bool, error) {
		return nil, false, errors.New("API server unreachable")
	}
	if found, err := e.cloud.Sweep(context.Background(), unsure, nil, false); err != nil || len(found) != 0 {
		t.Errorf("a sweep that cannot look Services up found %v, %v", found, err)
	}
}

var _ = frontdeskaws.EventSwept
