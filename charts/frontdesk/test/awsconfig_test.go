package charttest

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	awsconfig "github.com/frontdesk-lb/frontdesk/providers/aws/config"
)

// TestAWSCloudConfig: with provider aws the chart always hands the provider a cloud config that
// names the cluster (the provider reports no cluster ID without one, and its sweep deletes owned
// resources by that name), parsed here by the provider's own reader; the shared default name is
// refused.
func TestAWSCloudConfig(t *testing.T) {
	tests := []struct {
		name, values string
		wantCluster  string
		wantVPC      string
		wantErr      string
	}{
		{name: "name from clusterName, user config kept", values: valueSetNamed(t, "aws").values,
			wantCluster: "prod-eu", wantVPC: "vpc-0123456789abcdef0"},
		{name: "no user config", values: valueSetNamed(t, "aws-no-cloud-node").values, wantCluster: "staging"},
		{name: "the config's own name wins", values: "provider: aws\nclusterName: ignored\naws:\n  cloudConfig: \"clusterName: blue\"\n",
			wantCluster: "blue"},
		{name: "default name refused", values: "provider: aws\n", wantErr: "clusterName"},
		{name: "default name in the config refused", values: "provider: aws\nclusterName: x\naws:\n  cloudConfig: \"clusterName: kubernetes\"\n",
			wantErr: "cluster name of its own"},
		{name: "config not YAML", values: "provider: aws\nclusterName: x\naws:\n  cloudConfig: \"[\"\n", wantErr: "not YAML"},
	}
	ch := mustChart(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderValues(ch, parseValues(t, tt.values), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sec := mustFind(t, objs, "Secret", "frontdesk-controller-cloud-config")
			data, _, _ := unstructured.NestedString(sec.Object, "data", "cloud-config")
			raw, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := awsconfig.Read(strings.NewReader(string(raw)))
			if err != nil {
				t.Fatalf("the provider refuses the rendered cloud config %q: %v", raw, err)
			}
			if cfg.ClusterName != tt.wantCluster || cfg.VPCID != tt.wantVPC {
				t.Errorf("cloud config names cluster %q, VPC %q; want %q, %q", cfg.ClusterName, cfg.VPCID, tt.wantCluster, tt.wantVPC)
			}
			args := controllerOf(t, objs).Spec.Template.Spec.Containers[0].Args
			if !strings.Contains(strings.Join(args, " "), "--cloud-config=/etc/frontdesk/cloud-config") {
				t.Errorf("controller args %v lack --cloud-config", args)
			}
		})
	}
}
