package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/frontdesk-lb/frontdesk/hack/images/build"
)

func describe(layers []build.Layer) []string {
	var out []string
	for _, l := range layers {
		out = append(out, fmt.Sprint(l))
	}
	return out
}

// The conformance set is named under the framework's promoterE2eRegistry path
// (test/conformance/repo-list.yaml), with the framework's tags. An image of the lab's set under
// the same name (agnhost) is replaced by it in a lab registry it is pushed to: it must hold the
// lab image's layers, unchanged, below its own.
func TestConformanceImages(t *testing.T) {
	lab := map[string]build.Image{}
	for _, im := range images {
		lab[im.Name] = im
	}
	if len(conformanceImages) == 0 {
		t.Fatal("no conformance images")
	}
	for _, im := range conformanceImages {
		if !strings.HasPrefix(im.Name, "e2e-test-images/") {
			t.Errorf("%s: not under e2e-test-images/, the lab path of the framework's promoterE2eRegistry", im.Name)
		}
		if len(im.Tags) == 0 {
			t.Errorf("%s: no tag (the framework's tag is needed, not the product version)", im.Name)
		}
		if l, ok := lab[im.Name]; ok {
			want, got := describe(l.Layers), describe(im.Layers)
			if len(got) <= len(want) || fmt.Sprint(got[:len(want)]) != fmt.Sprint(want) {
				t.Errorf("%s: also in the lab's set, but does not start with its layers:\n%v\n%v", im.Name, want, got)
			}
		}
	}
}
