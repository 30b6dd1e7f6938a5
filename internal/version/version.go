// Package version holds what a frontdesk binary was built from: the release (git describe), the
// commit, whether the tree was clean, and the build date. `make build` and `make images` set them
// with -ldflags -X (the build date is the commit's date, so that builds are reproducible);
// a plain `go build` falls back to what the Go toolchain recorded from git (debug.BuildInfo).
//
// frontdesk-controller reports through k8s.io/component-base/version instead (its --version flag
// and kubernetes_build_info): the Makefile sets that package's variables to the same values.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags "-X github.com/frontdesk-lb/frontdesk/internal/version.version=...".
var (
	version   string
	commit    string
	treeState string // clean or dirty
	buildDate string // RFC 3339, UTC
)

// Info is what a binary reports about its build.
type Info struct {
	Version   string
	Revision  string
	TreeState string
	BuildDate string
	GoVersion string
	Platform  string
}

// Get returns the build's Info: the -ldflags values, else the toolchain's record, else "unknown".
func Get() Info {
	return get(version, commit, treeState, buildDate, readBuildInfo)
}

func readBuildInfo() (*debug.BuildInfo, bool) { return debug.ReadBuildInfo() }

func get(v, c, tree, date string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: v, Revision: c, TreeState: tree, BuildDate: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Revision == "":
				i.Revision = s.Value
			case s.Key == "vcs.time" && i.BuildDate == "":
				i.BuildDate = s.Value
			case s.Key == "vcs.modified" && i.TreeState == "":
				i.TreeState = map[string]string{"true": "dirty", "false": "clean"}[s.Value]
			}
		}
	}
	for _, f := range []*string{&i.Version, &i.Revision, &i.TreeState, &i.BuildDate} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return i
}

// String is the one line --version prints: "frontdesk-speaker v0.1.0 (commit abc..., clean, built
// 2026-12-06T07:11:42Z, go1.26.8, linux/amd64)".
func (i Info) String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s, built %s, %s, %s)",
		program, i.Version, i.Revision, i.TreeState, i.BuildDate, i.GoVersion, i.Platform)
}
