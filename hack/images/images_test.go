package main

import (
	"strings"
	"testing"
)

// The conformance set must stay apart from the lab's images: under the framework's
// promoterE2eRegistry path (test/conformance/repo-list.yaml), and never a name the lab's set
// imports on its nodes, whose local copy would win over the registry's.
func TestConformanceImagesApart(t *testing.T) {
	lab := map[string]bool{}
	for _, im := range images {
		lab[im.Name] = true
	}
	if len(conformanceImages) == 0 {
		t.Fatal("no conformance images")
	}
	for _, im := range conformanceImages {
		if !strings.HasPrefix(im.Name, "e2e-test-images/") {
			t.Errorf("%s: not under e2e-test-images/, the lab path of the framework's promoterE2eRegistry", im.Name)
		}
		if lab[im.Name] {
			t.Errorf("%s: also in the lab's set; the nodes' imported copy would shadow it", im.Name)
		}
		if len(im.Tags) == 0 {
			t.Errorf("%s: no tag (the framework's tag is needed, not the product version)", im.Name)
		}
	}
}
