package kubenode

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testNode() Node {
	return Node{
		Lab: "fdlab", Name: "node2", Dir: "/run/frontdesk-lab/fdlab/nodes/node2",
		IP: netip.MustParseAddr("198.18.0.12"), PodCIDR: netip.MustParsePrefix("198.19.2.0/24"),
		ClusterDNS: netip.MustParseAddr("198.19.128.10"), ClusterDomain: "cluster.local",
		ResolvConf: "/run/frontdesk-lab/fdlab/nodes/resolv.conf",
		NodeBin:    "/cache/node/bin", Runc: "/usr/sbin/runc", SandboxImage: "example.test/library/pause:3.10.2",
		Kubeconfig: "/pki/kubeconfig", CAFile: "/pki/ca.crt", ServingCert: "/pki/kubelet.crt", ServingKey: "/pki/kubelet.key",
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func TestContainerdConfigGolden(t *testing.T) {
	golden(t, "containerd.toml", ContainerdConfig(testNode()))
}
func TestCNIConfigGolden(t *testing.T)     { golden(t, "cni.conflist", CNIConfig(testNode())) }
func TestKubeletConfigGolden(t *testing.T) { golden(t, "kubelet.yaml", KubeletConfig(testNode())) }

// TestKubeletConfig checks the fields this machine and the lab need, on the parsed YAML.
func TestKubeletConfig(t *testing.T) {
	var c map[string]any
	if err := yaml.Unmarshal([]byte(KubeletConfig(testNode())), &c); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"kind":                     "KubeletConfiguration",
		"failCgroupV1":             false,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               "/fdlab-node2",
		"containerRuntimeEndpoint": "unix:///run/frontdesk-lab/fdlab/nodes/node2/containerd/containerd.sock",
		"podLogsDir":               "/run/frontdesk-lab/fdlab/nodes/node2/pod-logs",
		"address":                  "198.18.0.12",
		"clusterDomain":            "cluster.local",
		"resolvConf":               "/run/frontdesk-lab/fdlab/nodes/resolv.conf",
		"readOnlyPort":             float64(0),
	} {
		if c[key] != want {
			t.Errorf("%s = %#v, want %#v", key, c[key], want)
		}
	}
	if dns, _ := c["clusterDNS"].([]any); len(dns) != 1 || dns[0] != "198.19.128.10" {
		t.Errorf("clusterDNS = %v, want [198.19.128.10]", c["clusterDNS"])
	}
	authz, _ := c["authorization"].(map[string]any)
	authn, _ := c["authentication"].(map[string]any)
	anon, _ := authn["anonymous"].(map[string]any)
	x509, _ := authn["x509"].(map[string]any)
	if authz["mode"] != "Webhook" || anon["enabled"] != false || x509["clientCAFile"] != "/pki/ca.crt" {
		t.Errorf("authentication %v, authorization %v: want Webhook, no anonymous, the cluster CA", authn, authz)
	}
}

func TestCNIConfig(t *testing.T) {
	var c struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type        string `json:"type"`
			IsGateway   bool   `json:"isGateway"`
			IPMasq      bool   `json:"ipMasq"`
			HairpinMode bool   `json:"hairpinMode"`
			IPAM        struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(CNIConfig(testNode())), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "fdlab-node2" || len(c.Plugins) != 2 {
		t.Fatalf("network %q with %d plugins, want fdlab-node2 with bridge and portmap", c.Name, len(c.Plugins))
	}
	b := c.Plugins[0]
	if b.Type != "bridge" || !b.IsGateway || b.IPMasq || !b.HairpinMode {
		t.Errorf("bridge %+v: want isGateway, hairpinMode, no ipMasq", b)
	}
	if b.IPAM.Type != "host-local" || b.IPAM.Ranges[0][0]["subnet"] != "198.19.2.0/24" ||
		b.IPAM.DataDir != "/run/frontdesk-lab/fdlab/nodes/node2/cni/ipam" {
		t.Errorf("ipam %+v: want host-local from the node's range, its data in the node's folder", b.IPAM)
	}
}

func TestKubeletArgs(t *testing.T) {
	args := KubeletArgs(testNode(), "/k8s/kubelet")
	for _, want := range []string{"--hostname-override=node2", "--node-ip=198.18.0.12",
		"--root-dir=/run/frontdesk-lab/fdlab/nodes/node2/kubelet", "--kubeconfig=/pki/kubeconfig"} {
		if !slices.Contains(args, want) {
			t.Errorf("kubelet args %v lack %s", args, want)
		}
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"pause":                                  "pause",
		"pause:3.10.2":                           "pause",
		"example.test:5000/library/pause:3.10.2": "pause",
		"example.test/e2e-test-images/agnhost:2.59@sha256:0123": "agnhost",
		"hashicorp/http-echo": "http-echo",
	} {
		if got := Repository(in); got != want {
			t.Errorf("Repository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistryDefaultHosts(t *testing.T) {
	n := testNode()
	if got := RegistryDefaultHosts(n); !strings.Contains(got, `server = "http://127.0.0.1:1"`) {
		t.Errorf("no registry: %s", got)
	}
	n.Registry = netip.MustParseAddrPort("198.18.0.2:5000")
	got := RegistryDefaultHosts(n)
	for _, want := range []string{`server = "http://198.18.0.2:5000"`, `[host."http://198.18.0.2:5000"]`, `capabilities = ["pull", "resolve"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts.toml lacks %s:\n%s", want, got)
		}
	}
}
