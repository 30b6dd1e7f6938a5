package baremetal

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cloudprovider "k8s.io/cloud-provider"
)

func TestInstanceMetadata(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
		Annotations: map[string]string{annotationProvidedNodeIP: "198.18.0.11,2001:db8::11"},
		Labels:      map[string]string{v1.LabelTopologyZone: "rack-1"}}}
	got, err := instances{}.InstanceMetadata(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	want := &cloudprovider.InstanceMetadata{ProviderID: "baremetal://n1", InstanceType: "baremetal", Zone: "rack-1",
		NodeAddresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "198.18.0.11"},
			{Type: v1.NodeInternalIP, Address: "2001:db8::11"}, {Type: v1.NodeHostName, Address: "n1"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	node.Spec.ProviderID = "baremetal://custom"
	if got, _ := (instances{}).InstanceMetadata(context.Background(), node); got.ProviderID != "baremetal://custom" {
		t.Errorf("ProviderID = %q, want the Node's own", got.ProviderID)
	}
	if ok, _ := (instances{}).InstanceExists(context.Background(), node); !ok {
		t.Error("InstanceExists = false: a bare-metal Node must never be deleted by the cloud controller")
	}
}
