//go:build integration

package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// labLikeValues install what the lab runs: the image registry, two pools, ARP and BGP
// announcement with a peer and an advertisement, and the node proxy in place of kube-proxy.
const labLikeValues = `
image: {registry: localhost}
proxy: {enabled: true}
announce:
  bgp: {enabled: true, asn: 64512}
controller:
  controllers: [service, nodeport-usage, cloud-node]
speaker:
  kubernetesServiceHost: 192.0.2.10
  kubernetesServicePort: "6443"
ipPools:
  - name: lan
    spec: {addresses: ["198.18.0.200-198.18.0.250"]}
  - name: bgp
    spec: {addresses: ["198.18.100.0/24"], autoAssign: false, avoidBuggyIPs: true}
l2Advertisements:
  - name: lan
    spec: {ipPools: [lan]}
bgpPeers:
  - name: router
    spec: {address: "198.18.0.1", peerASN: 64500, localASN: 64512}
bgpAdvertisements:
  - name: bgp
    spec: {ipPools: [bgp], peers: [router]}
`

func frontdeskResource(plural string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "frontdesk.dev", Version: "v1alpha1", Resource: plural}
}

// TestHelmInstallUpgradeUninstall runs the helm CLI this module pins against a real API server,
// as a user would on a new cluster (no CRDs installed beforehand):
//   - `helm install` with the lab-like values succeeds: CRDs from crds/, then the pools,
//     advertisements and BGP objects, the workloads with the images from image.registry;
//   - `helm upgrade` with a changed value keeps the speakers' heartbeat key (the chart's `lookup`
//     of the installed Secret) while applying the change;
//   - `helm uninstall` removes the release's objects and keeps the CRDs.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c := controlplane.Start(t)
	createNamespace(t, c, releaseNS, map[string]string{"pod-security.kubernetes.io/enforce": "privileged"})
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(labLikeValues), 0o644); err != nil {
		t.Fatal(err)
	}
	helm := func(args ...string) string {
		t.Helper()
		out, stderr, err := runHelm(t, append(args, "--kubeconfig="+c.KubeconfigPath, "-n", releaseNS)...)
		if err != nil {
			t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	notes := helm("install", releaseName, chartDir, "-f", values)
	for _, want := range []string{"STATUS: deployed", "IPPool lan", "BGPPeer router", "kubectl get ippools"} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install printed no %q:\n%s", want, notes)
		}
	}
	for _, o := range []struct{ plural, name string }{
		{"ippools", "lan"}, {"ippools", "bgp"}, {"l2advertisements", "lan"}, {"bgppeers", "router"}, {"bgpadvertisements", "bgp"},
	} {
		if _, err := dyn.Resource(frontdeskResource(o.plural)).Get(ctx, o.name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s after helm install: %v", o.plural, o.name, err)
		}
	}
	ds, err := c.Client.AppsV1().DaemonSets(releaseNS).Get(ctx, "frontdesk-speaker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	speaker := ds.Spec.Template.Spec.Containers[0]
	if want := "localhost/frontdesk-lb/frontdesk-speaker:" + mustChart(t).Metadata.AppVersion; speaker.Image != want {
		t.Errorf("speaker image %q; want %q", speaker.Image, want)
	}
	for _, want := range []string{"--bgp", "--bgp-asn=64512", "--proxy=nftables", "--proxy-exclude-dead-nodes=true", "--v=2"} {
		if !slices.Contains(speaker.Args, want) {
			t.Errorf("installed speaker args %q lack %s", speaker.Args, want)
		}
	}
	if _, err := c.Client.AppsV1().Deployments(releaseNS).Get(ctx, "frontdesk-controller", metav1.GetOptions{}); err != nil {
		t.Errorf("controller Deployment after helm install: %v", err)
	}
	key := func() string {
		t.Helper()
		s, err := c.Client.CoreV1().Secrets(releaseNS).Get(ctx, "frontdesk-liveness-key", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Data["key"]) < 16 {
			t.Fatalf("heartbeat key of %d bytes; want at least 16", len(s.Data["key"]))
		}
		return string(s.Data["key"])
	}
	installed := key()

	helm("upgrade", releaseName, chartDir, "-f", values, "--set", "speaker.logLevel=4", "--set", "proxy.excludeDeadNodes=false")
	ds, err = c.Client.AppsV1().DaemonSets(releaseNS).Get(ctx, "frontdesk-speaker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := ds.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--v=4") || !slices.Contains(args, "--proxy-exclude-dead-nodes=false") {
		t.Errorf("upgraded speaker args %q lack --v=4 or --proxy-exclude-dead-nodes=false: the upgrade did not apply", args)
	}
	if got := key(); got != installed {
		t.Errorf("helm upgrade changed the heartbeat key from %q to %q: speakers would drop each other's heartbeats mid-rollout", installed, got)
	}
	var history []struct {
		Revision int    `json:"revision"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal([]byte(helm("history", releaseName, "-o", "json")), &history); err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 || history[1].Revision != 2 || history[1].Status != "deployed" {
		t.Errorf("helm history %+v; want revision 2 deployed", history)
	}

	helm("uninstall", releaseName)
	if _, err := c.Client.AppsV1().DaemonSets(releaseNS).Get(ctx, "frontdesk-speaker", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("speaker DaemonSet after helm uninstall: %v; want NotFound", err)
	}
	if _, err := dyn.Resource(frontdeskResource("ippools")).Get(ctx, "lan", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("IPPool lan after helm uninstall: %v; want NotFound (it came from values)", err)
	}
	// Helm never deletes what crds/ installed: the CRDs, and so any IPPool made by hand, stay.
	if _, err := dyn.Resource(frontdeskResource("ippools")).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing IPPools after helm uninstall: %v; want the CRD kept", err)
	}
}
