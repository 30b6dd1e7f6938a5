package addons

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

var params = Params{
	ServiceCIDR:    netip.MustParsePrefix("198.19.128.0/20"),
	ClusterDomain:  "cluster.local",
	ClusterCIDR:    netip.MustParsePrefix("198.19.0.0/17"),
	NodePortCIDR:   netip.MustParsePrefix("198.18.0.0/24"),
	APIServer:      "https://198.18.0.2:6443",
	CoreDNSImage:   "example/coredns:v1",
	KubeProxyImage: "example/kube-proxy:v1",
}

// decode parses every document of a manifest into typed objects: a field the API does not
// know fails here, not in the lab.
func decode(t *testing.T, manifest []byte) map[string]runtime.Object {
	t.Helper()
	codecs := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	objs := map[string]runtime.Object{}
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		if onlyComments(doc) {
			continue
		}
		obj, gvk, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		objs[gvk.Kind+"/"+obj.(interface{ GetName() string }).GetName()] = obj
	}
}

func TestDNSAddr(t *testing.T) {
	for cidr, want := range map[string]string{
		"198.19.128.0/20": "198.19.128.10",
		"10.96.0.0/12":    "10.96.0.10",
		"fd00:10::/108":   "fd00:10::a",
	} {
		if got := DNSAddr(netip.MustParsePrefix(cidr)); got.String() != want {
			t.Errorf("DNSAddr(%s) = %s, want %s", cidr, got, want)
		}
	}
}

func TestCoreDNS(t *testing.T) {
	m, err := CoreDNS(params)
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, m)
	svc, ok := objs["Service/kube-dns"].(*corev1.Service)
	if !ok {
		t.Fatalf("no kube-dns Service in %v", keys(objs))
	}
	if svc.Spec.ClusterIP != "198.19.128.10" || svc.Namespace != "kube-system" {
		t.Errorf("kube-dns: %s/%s ClusterIP %s", svc.Namespace, svc.Name, svc.Spec.ClusterIP)
	}
	d := objs["Deployment/coredns"].(*appsv1.Deployment)
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("kube-dns selects %v, the Pods carry %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != params.CoreDNSImage || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s %s", c.Image, c.ImagePullPolicy)
	}
	// CoreDNS must not resolve through itself (dnsPolicy ClusterFirst would loop).
	if d.Spec.Template.Spec.DNSPolicy != corev1.DNSDefault {
		t.Errorf("dnsPolicy %s", d.Spec.Template.Spec.DNSPolicy)
	}
	corefile := objs["ConfigMap/coredns"].(*corev1.ConfigMap).Data["Corefile"]
	if !strings.Contains(corefile, "kubernetes cluster.local in-addr.arpa") || strings.Contains(corefile, "forward") {
		t.Errorf("Corefile:\n%s", corefile)
	}
	if _, err := CoreDNS(Params{}); err == nil {
		t.Error("CoreDNS with no parameters: no error")
	}
}

func TestKubeProxy(t *testing.T) {
	m, err := KubeProxy(params)
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, m)
	ds := objs["DaemonSet/kube-proxy"].(*appsv1.DaemonSet)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.Containers[0].Image != params.KubeProxyImage {
		t.Errorf("hostNetwork %t image %s", spec.HostNetwork, spec.Containers[0].Image)
	}
	cm := objs["ConfigMap/kube-proxy"].(*corev1.ConfigMap)
	// The fields kube-proxy reads (its own strict decoding runs in the lab).
	var cfg struct {
		Kind              string   `json:"kind"`
		Mode              string   `json:"mode"`
		ClusterCIDR       string   `json:"clusterCIDR"`
		NodePortAddresses []string `json:"nodePortAddresses"`
		Conntrack         struct {
			MaxPerCore *int32 `json:"maxPerCore"`
		} `json:"conntrack"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["config.conf"]), &cfg); err != nil {
		t.Fatalf("config.conf: %v", err)
	}
	if cfg.Kind != "KubeProxyConfiguration" || cfg.Mode != "nftables" || cfg.ClusterCIDR != "198.19.0.0/17" ||
		len(cfg.NodePortAddresses) != 1 || cfg.NodePortAddresses[0] != "198.18.0.0/24" ||
		cfg.Conntrack.MaxPerCore == nil || *cfg.Conntrack.MaxPerCore != 0 {
		t.Errorf("config: %+v", cfg)
	}
	if !strings.Contains(cm.Data["kubeconfig.conf"], "server: https://198.18.0.2:6443") {
		t.Errorf("kubeconfig:\n%s", cm.Data["kubeconfig.conf"])
	}
	if _, err := KubeProxy(Params{}); err == nil {
		t.Error("KubeProxy with no parameters: no error")
	}
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func onlyComments(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		if l := bytes.TrimSpace(line); len(l) > 0 && l[0] != '#' && string(l) != "---" {
			return false
		}
	}
	return true
}
