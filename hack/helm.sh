#!/usr/bin/env bash
# The helm CLI pinned in charts/frontdesk/test/go.mod (a Go tool there, the same version as the
# Helm SDK the chart's tests use), built once into $FRONTDESK_CACHE/helm-<version>/helm.
#
#   bash hack/helm.sh --print           builds it if missing, prints its path
#   bash hack/helm.sh lint charts/frontdesk --set image.registry=localhost
#                                       builds it if missing, runs it with these arguments
#
# `go tool -modfile=charts/frontdesk/test/go.mod helm ...` from the repository root runs the same
# pinned version (rebuilt in the Go build cache), but a stable path is handier for scripts and the
# lab, and survives `go clean -cache`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mod="$repo/charts/frontdesk/test"
cache=${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}

version=$(cd "$mod" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
bin="$cache/helm-$version/helm"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$(dirname "$bin")"
	tmp="$bin.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	echo "hack/helm.sh: building helm $version into $bin" >&2
	# The tool directive in the chart test module pins the command to the SDK's version.
	(cd "$mod" && go build -o "$tmp" \
		-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" helm.sh/helm/v4/cmd/helm)
	mv "$tmp" "$bin"
fi

if [[ "${1:-}" == "--print" ]]; then
	echo "$bin"
	exit 0
fi
exec "$bin" "$@"
