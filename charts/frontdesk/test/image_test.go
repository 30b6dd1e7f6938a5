package charttest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A digest for the tests: sha256 and 64 hex digits.
const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// images returns the image of each workload's container, by component.
func images(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, w := range workloads(t, objs) {
		component := map[string]string{"Deployment": "controller", "DaemonSet": "speaker"}[w.kind]
		out[component] = w.pod.Containers[0].Image
	}
	return out
}

// TestImageRegistryRequired: the chart has no registry default (frontdesk publishes no images and
// must not guess a name someone else could own), so rendering without one fails and says what to do.
func TestImageRegistryRequired(t *testing.T) {
	tests := []struct {
		name, values string
		component    string // named in the message; "": either (both images lack a registry)
	}{
		{"no image key", ``, ""},
		{"empty registry", `image: {registry: ""}`, ""},
		{"only the controller's", `controller: {image: {registry: localhost}}`, "speaker"},
		{"only the speaker's", `image: {registry: ""}
speaker: {image: {registry: localhost}}`, "controller"},
	}
	ch := mustChart(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderValues(ch, parseRawValues(t, tt.values), nil)
			if err == nil {
				t.Fatalf("values %q rendered without an image registry", tt.values)
			}
			for _, want := range []string{"image.registry is required", "make images", tt.component + ".image.registry"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q: want it to mention %q", err, want)
				}
			}
		})
	}
}

// TestImageReferences: <registry>/<repository>:<tag>, the tag defaulting to the chart's
// appVersion, a digest winning over the tag, and the per-component registry winning over
// image.registry.
func TestImageReferences(t *testing.T) {
	appVersion := mustChart(t).Metadata.AppVersion
	if appVersion == "" {
		t.Fatal("Chart.yaml has no appVersion")
	}
	tests := []struct {
		name, values string
		want         map[string]string
	}{
		{"defaults: appVersion", `image: {registry: localhost}`, map[string]string{
			"controller": "localhost/frontdesk-lb/frontdesk-controller:" + appVersion,
			"speaker":    "localhost/frontdesk-lb/frontdesk-speaker:" + appVersion,
		}},
		{"registry with a port and a path", `image: {registry: "registry.example:5000/team"}`, map[string]string{
			"controller": "registry.example:5000/team/frontdesk-lb/frontdesk-controller:" + appVersion,
			"speaker":    "registry.example:5000/team/frontdesk-lb/frontdesk-speaker:" + appVersion,
		}},
		{"tags", `image: {registry: localhost}
controller: {image: {tag: v2-rc.1}}
speaker: {image: {tag: dev}}`, map[string]string{
			"controller": "localhost/frontdesk-lb/frontdesk-controller:v2-rc.1",
			"speaker":    "localhost/frontdesk-lb/frontdesk-speaker:dev",
		}},
		{"digest wins over the tag", `image: {registry: localhost}
controller: {image: {tag: v2, digest: ` + testDigest + `}}`, map[string]string{
			"controller": "localhost/frontdesk-lb/frontdesk-controller@" + testDigest,
			"speaker":    "localhost/frontdesk-lb/frontdesk-speaker:" + appVersion,
		}},
		{"per-component registry", `image: {registry: localhost}
speaker: {image: {registry: "registry.example:5000", repository: net/speaker}}`, map[string]string{
			"controller": "localhost/frontdesk-lb/frontdesk-controller:" + appVersion,
			"speaker":    "registry.example:5000/net/speaker:" + appVersion,
		}},
		{"per-component registries, none at the top", `controller: {image: {registry: "[2001:db8::1]:5000"}}
speaker: {image: {registry: 192.0.2.7}}`, map[string]string{
			"controller": "[2001:db8::1]:5000/frontdesk-lb/frontdesk-controller:" + appVersion,
			"speaker":    "192.0.2.7/frontdesk-lb/frontdesk-speaker:" + appVersion,
		}},
	}
	ch := mustChart(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderValues(ch, parseRawValues(t, tt.values), nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, images(t, objs)); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
		})
	}
}
