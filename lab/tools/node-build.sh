#!/usr/bin/env bash
# Builds what a lab node runs besides the kubelet (which hack/k8s/build.sh
# builds with the control plane), from pinned upstream releases, into a cache
# folder named after those versions:
#
#   ${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/node-containerd-<v>-cni-<v>-crictl-<v>/bin/
#       containerd, containerd-shim-runc-v2, ctr, crictl, cni/{bridge,host-local,loopback,portmap}
#   ${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/coredns-<v>/bin/coredns
#   ${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/registry-<v>-crane-<v>/bin/{registry,crane}
#       the lab's image registry and the tool that pushes the images to it
#
# runc is Debian's (hack/install-deps.sh): runc needs cgo for its nsenter.
#
# Each tool is built with `go install <package>@<version>`, that is with its
# own upstream go.mod and go.sum, exactly the dependency set its release was
# tested with, and with nothing mixed with frontdesk's or the Kubernetes tools'
# modules (a module of pinned tools would resolve containerd, the CNI plugins,
# cri-tools and CoreDNS against each other's dependencies, which none of them
# was released with). None of these modules has a replace directive, which is
# what `go install pkg@version` needs. go.sum lines are checked against the
# checksum database as for any module download.
#
# A binary already present is not rebuilt, so a second run builds nothing;
# changing a version below selects a new folder. Binaries are written under a
# temporary name and renamed when complete. CGO_ENABLED=0: static binaries.
#
# Usage: node-build.sh                      build what is missing; the node bin dir is the last line
#        node-build.sh --print-dir          only print the node bin dir
#        node-build.sh --print-coredns-dir  only print CoreDNS's bin dir
#        node-build.sh --print-registry-dir only print the registry's and crane's bin dir
#        node-build.sh --help
set -euo pipefail

containerd_version=v2.4.2
cni_version=v1.10.0
crictl_version=v1.37.0
# The newest release the Go module proxy served when this was written.
coredns_version=v1.15.0
# The lab's registry (distribution, the reference implementation) and crane to push to it.
registry_version=v3.1.2
crane_version=v0.22.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="${here}/$(basename "${BASH_SOURCE[0]}")"
cache="${FRONTDESK_CACHE:-${HOME}/.cache/frontdesk}"
node_dir="${cache}/node-containerd-${containerd_version}-cni-${cni_version}-crictl-${crictl_version}/bin"
coredns_dir="${cache}/coredns-${coredns_version}/bin"
registry_dir="${cache}/registry-${registry_version}-crane-${crane_version}/bin"

case "${1:-}" in
"") ;;
--print-dir)
	echo "$node_dir"
	exit 0
	;;
--print-coredns-dir)
	echo "$coredns_dir"
	exit 0
	;;
--print-registry-dir)
	echo "$registry_dir"
	exit 0
	;;
-h | --help)
	sed -n '2,/^set -euo/p' "$self" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "node-build.sh: unknown argument ${1}; accepted: --print-dir, --print-coredns-dir, --print-registry-dir, --help" >&2
	exit 2
	;;
esac

cd /
export CGO_ENABLED=0 GOFLAGS=-trimpath GOWORK=off

tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${containerd_version}"
containerd_ldflags+=" -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
cni_ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${cni_version}"

# out:package@version:ldflags, in build order.
targets=(
	"${node_dir}/containerd|github.com/containerd/containerd/v2/cmd/containerd@${containerd_version}|${containerd_ldflags}"
	"${node_dir}/containerd-shim-runc-v2|github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@${containerd_version}|${containerd_ldflags}"
	"${node_dir}/ctr|github.com/containerd/containerd/v2/cmd/ctr@${containerd_version}|${containerd_ldflags}"
	"${node_dir}/crictl|sigs.k8s.io/cri-tools/cmd/crictl@${crictl_version}|-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${crictl_version}"
	"${node_dir}/cni/bridge|github.com/containernetworking/plugins/plugins/main/bridge@${cni_version}|${cni_ldflags}"
	"${node_dir}/cni/host-local|github.com/containernetworking/plugins/plugins/ipam/host-local@${cni_version}|${cni_ldflags}"
	"${node_dir}/cni/loopback|github.com/containernetworking/plugins/plugins/main/loopback@${cni_version}|${cni_ldflags}"
	"${node_dir}/cni/portmap|github.com/containernetworking/plugins/plugins/meta/portmap@${cni_version}|${cni_ldflags}"
	"${coredns_dir}/coredns|github.com/coredns/coredns@${coredns_version}|-s -w"
	"${registry_dir}/registry|github.com/distribution/distribution/v3/cmd/registry@${registry_version}|-s -w -X github.com/distribution/distribution/v3/version.version=${registry_version}"
	"${registry_dir}/crane|github.com/google/go-containerregistry/cmd/crane@${crane_version}|-s -w"
)

start=$SECONDS
built=0
for t in "${targets[@]}"; do
	IFS='|' read -r out pkg ldflags <<<"$t"
	if [[ -x "$out" ]]; then
		continue
	fi
	name="$(basename "$out")"
	echo "building ${name} (${pkg})... [$((SECONDS - start))s elapsed]" >&2
	mkdir -p "$(dirname "$out")"
	# go install names the binary after the package's last element, in a
	# folder of its own so that nothing half-written lands in the cache.
	tmp="$(mktemp -d "$(dirname "$out")/.build.XXXXXX")"
	GOBIN="$tmp" go install -ldflags="$ldflags" "$pkg"
	mv -f "$tmp/$(basename "${pkg%@*}")" "$out"
	rm -rf "$tmp"
	tmp=""
	built=$((built + 1))
done

if ((built > 0)); then
	echo "built ${built} node binaries in $((SECONDS - start))s" >&2
else
	echo "all ${#targets[@]} node binaries present" >&2
fi
echo "$node_dir"
