package aws_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func TestInstancesV2(t *testing.T) {
	e := newEnv(t, envOption{})
	id := e.fake.AddInstance(fakeaws.Instance{SubnetID: e.subnets["private-b"], Type: "c6i.xlarge", PrivateIP: netip.MustParseAddr("10.0.12.50")})
	inst, _ := e.cloud.InstancesV2()
	ctx := context.Background()
	byID := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: v1.NodeSpec{ProviderID: "aws:///" + region + "b/" + id}}

	md, err := inst.InstanceMetadata(ctx, byID)
	if err != nil {
		t.Fatal(err)
	}
	if md.ProviderID != "aws:///"+region+"b/"+id || md.InstanceType != "c6i.xlarge" || md.Zone != region+"b" || md.Region != region {
		t.Errorf("metadata %+v", md)
	}
	if len(md.NodeAddresses) == 0 || md.NodeAddresses[0] != (v1.NodeAddress{Type: v1.NodeInternalIP, Address: "10.0.12.50"}) {
		t.Errorf("addresses %v: want the private IP first", md.NodeAddresses)
	}

	// Before the Node has a provider ID, its name is the private DNS name.
	var dns string
	for _, a := range md.NodeAddresses {
		if a.Type == v1.NodeInternalDNS {
			dns = a.Address
		}
	}
	byName := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: dns}}
	md2, err := inst.InstanceMetadata(ctx, byName)
	if err != nil || md2.ProviderID != md.ProviderID {
		t.Errorf("by private DNS name %q: %+v, %v", dns, md2, err)
	}

	for _, step := range []struct {
		state            string
		exists, shutdown bool
	}{
		{"running", true, false},
		{"stopping", true, true},
		{"stopped", true, true},
		{"terminated", false, false},
	} {
		e.fake.SetInstanceState(id, step.state)
		exists, err := inst.InstanceExists(ctx, byID)
		if err != nil {
			t.Fatal(err)
		}
		shutdown, err := inst.InstanceShutdown(ctx, byID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([2]bool{step.exists, step.shutdown}, [2]bool{exists, shutdown}); d != "" {
			t.Errorf("state %s: exists, shutdown (-want +got):\n%s", step.state, d)
		}
	}
	e.fake.RemoveInstance(id)
	if exists, err := inst.InstanceExists(ctx, byID); err != nil || exists {
		t.Errorf("a removed instance: exists %v, %v", exists, err)
	}
	if _, err := inst.InstanceExists(ctx, &v1.Node{Spec: v1.NodeSpec{ProviderID: "gce://p/z/n"}}); err == nil {
		t.Error("a foreign provider ID gave no error")
	}
}
