#!/usr/bin/env bash
# Runs a make target (default: test) in a clean clone of HEAD as a fresh machine would, with every
# cache empty: Go's module and build caches, frontdesk's one-off builds ($FRONTDESK_CACHE: the
# Kubernetes binaries, the nodes' containerd, CNI plugins and crictl, CoreDNS, the registry, helm),
# golangci-lint's and helm's caches all live under $HOME, so it runs with an empty HOME of its own.
# The machine's Go settings (go env -w) are copied over; Debian's packages are what they are (the
# target installs what is missing). It prints how long the target took; the time of each one-off
# build is in the target's own progress lines. The machine should be otherwise idle.
#
#   bash hack/fresh.sh          # make test, as CI runs it (CI=true)
#   bash hack/fresh.sh lab      # make lab (then make lab-down in the clone it prints)
set -euo pipefail
target=${1:-test}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d /tmp/frontdesk-fresh.XXXXXX)
goenv=$(go env GOENV)
export HOME=$work/home
mkdir -p "$HOME/.config/go"
if [ -f "$goenv" ]; then cp "$goenv" "$HOME/.config/go/env"; fi
git clone -q "$repo" "$work/frontdesk"
cd "$work/frontdesk"
echo "fresh: make $target at $(git rev-parse --short HEAD), HOME=$HOME, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
rc=0
CI=${CI:-true} make "$target" || rc=$?
echo "fresh: make $target exited $rc after $(( $(date +%s) - start )) s; caches in $HOME: $(du -sh "$HOME" | cut -f1) (rm -rf $work when done)"
exit $rc
