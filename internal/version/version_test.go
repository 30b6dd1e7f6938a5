package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGet(t *testing.T) {
	vcs := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Path: "github.com/frontdesk-lb/frontdesk", Version: "v0.0.0-20261206071142-fe1e9586cc88+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "fe1e9586cc885e98fe8ea01840c94411f1c868a0"},
				{Key: "vcs.time", Value: "2026-12-06T07:11:42Z"},
				{Key: "vcs.modified", Value: "true"},
			},
		}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name             string
		v, c, tree, date string
		read             func() (*debug.BuildInfo, bool)
		want             Info
	}{
		{
			name: "ldflags win over the toolchain's record",
			v:    "v0.2.0", c: "abc123", tree: "clean", date: "2026-01-02T03:04:05Z", read: vcs,
			want: Info{Version: "v0.2.0", Revision: "abc123", TreeState: "clean", BuildDate: "2026-01-02T03:04:05Z"},
		},
		{
			name: "a plain go build reports what the toolchain recorded from git",
			read: vcs,
			want: Info{Version: "v0.0.0-20261206071142-fe1e9586cc88+dirty", Revision: "fe1e9586cc885e98fe8ea01840c94411f1c868a0",
				TreeState: "dirty", BuildDate: "2026-12-06T07:11:42Z"},
		},
		{
			name: "nothing known",
			read: none,
			want: Info{Version: "unknown", Revision: "unknown", TreeState: "unknown", BuildDate: "unknown"},
		},
		{
			name: "a (devel) main version is no version",
			read: func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true },
			want: Info{Version: "unknown", Revision: "unknown", TreeState: "unknown", BuildDate: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.GoVersion, tt.want.Platform = runtime.Version(), platform
			if diff := cmp.Diff(tt.want, get(tt.v, tt.c, tt.tree, tt.date, tt.read)); diff != "" {
				t.Errorf("get() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v0.2.0", Revision: "abc123", TreeState: "clean", BuildDate: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "frontdesk-speaker v0.2.0 (commit abc123, clean, built 2026-01-02T03:04:05Z, go1.26.8, linux/amd64)"
	if got := i.String("frontdesk-speaker"); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestGetInTestBinary checks the real Get: a test binary has no -ldflags values, so every
// field comes from the toolchain or is "unknown", never empty.
func TestGetInTestBinary(t *testing.T) {
	i := Get()
	for name, v := range map[string]string{"Version": i.Version, "Revision": i.Revision, "TreeState": i.TreeState, "BuildDate": i.BuildDate} {
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s is empty", name)
		}
	}
}
