package charttest

import (
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"

	"github.com/frontdesk-lb/frontdesk/api/crds"
)

// TestChartCRDs: Helm installs the same CRDs as the ones the code's tests install (api/crds reads
// them through the Go embed in charts/frontdesk), and .helmignore does not drop them.
func TestChartCRDs(t *testing.T) {
	var fromHelm []string
	for _, o := range crdObjects(t) {
		fromHelm = append(fromHelm, o.GetName())
	}
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	var fromGo []string
	for _, c := range all {
		fromGo = append(fromGo, c.Name)
	}
	slices.Sort(fromHelm)
	slices.Sort(fromGo)
	if diff := cmp.Diff(fromGo, fromHelm); diff != "" {
		t.Errorf("CRDs (-api/crds +helm):\n%s", diff)
	}
	for _, want := range []string{"ippools.frontdesk.dev", "ipallocations.frontdesk.dev", "l2advertisements.frontdesk.dev"} {
		if !slices.Contains(fromHelm, want) {
			t.Errorf("the chart lacks the CRD %s", want)
		}
	}
}

// TestChartFiles: the packaged chart holds no Go code and none of these tests (.helmignore).
func TestChartFiles(t *testing.T) {
	ch := mustChart(t)
	for _, f := range ch.Raw {
		if strings.HasPrefix(f.Name, "test/") || path.Ext(f.Name) == ".go" {
			t.Errorf("the chart packages %s", f.Name)
		}
	}
	if ch.Schema == nil {
		t.Error("the chart has no values.schema.json")
	}
}

// TestHelmLint runs Helm's own linter (what `helm lint --strict` runs) for every value set:
// Chart.yaml, values, the schema and the rendered templates. Warnings fail too.
func TestHelmLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			linter := lint.RunAll(chartDir, parseValues(t, vs.values), releaseNS)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}
