#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries, etcd and the kubelet (the lab's
# nodes) that the integration tests and the lab run, from the versions pinned in this folder's go.mod, into a cache
# folder named after those versions:
#
#   ${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/k8s-<version>-etcd-<version>/bin/
#
# A binary already present there is not rebuilt, so a second run takes seconds;
# changing a version in go.mod selects a new folder and so rebuilds everything.
# Each binary is written under a temporary name and renamed when complete, so an
# interrupted build never leaves a truncated binary behind.
#
# Usage: build.sh              build what is missing; the bin dir is the last line
#        build.sh --e2e        build only e2e.test, Kubernetes' e2e suite compiled by
#                              `go test -c k8s.io/kubernetes/test/e2e` (the conformance
#                              tests of issue 16), and ginkgo's CLI that runs it in
#                              parallel; not part of the default set, which
#                              `make test` builds: it is a long build of its own
#        build.sh --print-dir  only print the bin dir (nothing is built)
#        build.sh --help
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="${here}/$(basename "${BASH_SOURCE[0]}")"
cd "$here"

usage() {
	sed -n '2,/^set -euo/p' "$self" | sed -e '$d' -e 's/^# \{0,1\}//'
}

print_only=false
e2e=false
case "${1:-}" in
"") ;;
--e2e) e2e=true ;;
--print-dir) print_only=true ;;
-h | --help)
	usage
	exit 0
	;;
*)
	echo "build.sh: unknown argument ${1}; accepted: --e2e, --print-dir, --help" >&2
	exit 2
	;;
esac

# module_version prints the version go.mod requires for module $1. `go mod edit
# -print` only reformats the file (no network, no module graph), so the output
# has one of the two canonical shapes: "require path vX" or "<tab>path vX".
module_version() {
	local v
	v="$(go mod edit -print | awk -v m="$1" '
		$1 == "require" { $1 = ""; $0 = $0 }
		$1 == m && $2 ~ /^v/ { print $2; exit }')"
	if [[ -z "$v" ]]; then
		echo "build.sh: ${here}/go.mod does not require $1" >&2
		exit 1
	fi
	echo "$v"
}

k8s_version="$(module_version k8s.io/kubernetes)"
etcd_version="$(module_version go.etcd.io/etcd/server/v3)"
bin_dir="${FRONTDESK_CACHE:-${HOME}/.cache/frontdesk}/k8s-${k8s_version}-etcd-${etcd_version}/bin"

if "$print_only"; then
	echo "$bin_dir"
	exit 0
fi

# name:package pairs, in build order. kube-apiserver comes first: it is the
# longest build and the one every integration test needs.
targets=(
	"kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver"
	"etcd:go.etcd.io/etcd/server/v3"
	"kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager"
	"kube-scheduler:k8s.io/kubernetes/cmd/kube-scheduler"
	"kube-proxy:k8s.io/kubernetes/cmd/kube-proxy"
	"kubectl:k8s.io/kubernetes/cmd/kubectl"
	"kubelet:k8s.io/kubernetes/cmd/kubelet"
	"agnhost:k8s.io/kubernetes/test/images/agnhost"
)
# A name whose package is prefixed with "test:" is a test binary, built with
# `go test -c`. e2e_tools.go keeps its test-only imports in go.sum.
if "$e2e"; then
	# ginkgo's CLI runs e2e.test in parallel processes (test/conformance); the
	# version go.mod pins, which e2e.test is built with (its tool line).
	targets=("e2e.test:test:k8s.io/kubernetes/test/e2e" "ginkgo:github.com/onsi/ginkgo/v2/ginkgo")
fi

# Without these the components report v0.0.0-master, and kubectl warns of a
# client/server version skew on every command.
k8s_minor="${k8s_version#v*.}"
k8s_minor="${k8s_minor%%.*}"
k8s_major="${k8s_version#v}"
k8s_major="${k8s_major%%.*}"
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=${k8s_version}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMajor=${k8s_major}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMinor=${k8s_minor}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

mkdir -p "$bin_dir"
# A build killed with SIGKILL leaves its temporary file behind; one this old
# belongs to no running build.
find "$bin_dir" -maxdepth 1 -name '.*.tmp.*' -mmin +120 -delete

tmp=""
cleanup() {
	if [[ -n "$tmp" ]]; then
		rm -f "$tmp"
	fi
}
# A SIGTERM sent to this script alone left the temporary file behind with
# only the EXIT trap, so each signal gets its own. bash acts on a signal once
# the running go build returns (Ctrl-C reaches go build directly).
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

start=$SECONDS
elapsed() {
	local s=$((SECONDS - start))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

total=${#targets[@]}
i=0
built=0
for t in "${targets[@]}"; do
	i=$((i + 1))
	name="${t%%:*}"
	pkg="${t#*:}"
	out="${bin_dir}/${name}"
	if [[ -x "$out" ]]; then
		continue
	fi
	echo "building ${name} (${i}/${total})... [$(elapsed) elapsed]" >&2
	gocmd=(build)
	if [[ "$pkg" == test:* ]]; then
		pkg="${pkg#test:}"
		gocmd=(test -c)
	fi
	ldflags="-s -w"
	if [[ "$pkg" == k8s.io/kubernetes/* ]]; then
		ldflags+=" ${k8s_ldflags}"
	fi
	tmp="${bin_dir}/.${name}.tmp.$$"
	CGO_ENABLED=0 go "${gocmd[@]}" -trimpath -ldflags="$ldflags" -o "$tmp" "$pkg"
	mv -f "$tmp" "$out"
	tmp=""
	built=$((built + 1))
done

if ((built > 0)); then
	echo "built ${built} of ${total} binaries in $(elapsed)" >&2
else
	echo "all ${total} binaries present" >&2
fi
echo "$bin_dir"
