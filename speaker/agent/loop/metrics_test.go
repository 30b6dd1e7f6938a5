package loop

import (
	"strings"
	"testing"

	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/internal/version"
)

// The speaker's /metrics (the legacy registry) carries a build-info gauge from internal/version.
func TestBuildInfoMetric(t *testing.T) {
	registerMetrics()
	v := version.Get()
	want := `# HELP frontdesk_speaker_build_info [ALPHA] Always 1, labelled with what this speaker was built from: version, revision (commit), Go version.
# TYPE frontdesk_speaker_build_info gauge
frontdesk_speaker_build_info{goversion="` + v.GoVersion + `",revision="` + v.Revision + `",version="` + v.Version + `"} 1
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want), "frontdesk_speaker_build_info"); err != nil {
		t.Error(err)
	}
}
