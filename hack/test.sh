#!/usr/bin/env bash
# make test: every test tier in turn (make <tier>), each with the time elapsed when it is done.
#
#   hack/test.sh deps k8s-tools unit integration netns alerts-test
#
# The netns tier's labs need one-off builds of their own (the nodes' containerd, CNI plugins and
# crictl, CoreDNS, the registry and crane, this commit's images, helm, gobgp: what make lab builds,
# frontdesk-lab build; and for the subset of Kubernetes' e2e tests the walkthrough runs, e2e.test
# and ginkgo, make conformance-tools, and the images only those tests use, make
# conformance-images), and Prometheus' promtool, which alerts-test runs. Built in line, the first
# group was about a quarter of a fresh machine's make test on 2 cores; e2e.test adds about 9
# minutes from empty caches (test/conformance/README.md); promtool took 6 min 58 s to compile once,
# its modules downloaded, at nice 19 beside a conformance run (not yet timed on an idle machine).
# Once k8s-tools is done (the images take kube-proxy and agnhost from it), they are built in
# the background at the lowest CPU priority (nice 19) while the unit and integration tiers run:
# those leave much of the CPU idle while their tests wait on API servers, and keep priority
# whenever they want it. The netns tier waits for the builds and fails if they did; the labs then
# find everything cached. On a warm machine the background job takes about a minute: the lab's
# images only when the commit's are new, the e2e images every time (make conformance-images does
# not check what it has); its output is printed once it is done.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

bg="" bgdir=""
stop_bg() {
	if [[ -n "$bg" ]]; then
		kill -TERM -- "-$bg" 2>/dev/null || true
		wait "$bg" 2>/dev/null || true
		bg=""
	fi
	if [[ -n "$bgdir" ]]; then rm -rf "$bgdir"; fi
}
trap stop_bg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# lab_builds starts the lab's one-off builds in a process group of their own (so that stop_bg
# stops all of them), at nice 19.
lab_builds() {
	bgdir=$(mktemp -d)
	echo "make test: the lab's one-off builds started in the background (nice 19) at $(elapsed) s"
	setsid nice -n 19 bash -c 'go run ./cmd/frontdesk-lab build --dir="$1" &&
		make --no-print-directory conformance-tools conformance-images &&
		go build -modfile=hack/promtool/go.mod -o /dev/null github.com/prometheus/prometheus/cmd/promtool' _ "$bgdir" >"$bgdir/log" 2>&1 &
	bg=$!
}

# wait_lab_builds waits for them, prints what they printed, and fails if they did.
wait_lab_builds() {
	local rc=0
	wait "$bg" || rc=$?
	bg=""
	sed 's/^/  lab builds: /' "$bgdir/log"
	if ((rc != 0)); then
		echo "make test: the lab's one-off builds failed (exit $rc)" >&2
		return 1
	fi
	echo "make test: the lab's one-off builds done, $(elapsed) s elapsed"
}

for tier in "$@"; do
	if [[ "$tier" == netns && -n "$bg" ]]; then
		wait_lab_builds
	fi
	make --no-print-directory "$tier"
	echo "make test: $tier passed, $(elapsed) s elapsed"
	if [[ "$tier" == k8s-tools && " $* " == *" netns "* && "$(id -u)" -eq 0 ]]; then
		lab_builds
	fi
done
echo "make test: every tier passed in $(elapsed) s"
