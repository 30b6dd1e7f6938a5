#!/usr/bin/env bash
# make test: every test tier in turn (make <tier>), each with the time elapsed when it is done.
#
#   hack/test.sh deps k8s-tools unit integration netns
#
# The netns tier's lab needs one-off builds of its own (the nodes' containerd, CNI plugins and
# crictl, CoreDNS, the registry and crane: lab/tools/node-build.sh; this commit's images: make
# images), about a quarter of a fresh machine's make test on 2 cores when built in line. Once
# k8s-tools is done (the images take kube-proxy and agnhost from it), they are built in the
# background at the lowest CPU priority (nice 19) while the unit and integration tiers run: those
# leave much of the CPU idle while their tests wait on API servers, and keep priority whenever
# they want it. The netns tier waits for the builds and fails if they did. Each build is cached,
# so on a warm machine the background job takes seconds; its output is printed once it is done.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

bg="" bglog=""
stop_bg() {
	if [[ -n "$bg" ]]; then
		kill -TERM -- "-$bg" 2>/dev/null || true
		wait "$bg" 2>/dev/null || true
		bg=""
	fi
	if [[ -n "$bglog" ]]; then rm -f "$bglog"; fi
}
trap stop_bg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# lab_builds starts the lab's one-off builds in a process group of their own (so that stop_bg
# stops all of them), at nice 19.
lab_builds() {
	bglog=$(mktemp)
	echo "make test: the lab's one-off builds started in the background (nice 19) at $(elapsed) s"
	setsid nice -n 19 bash -c 'bash lab/tools/node-build.sh >/dev/null && make --no-print-directory images' >"$bglog" 2>&1 &
	bg=$!
}

# wait_lab_builds waits for them, prints what they printed, and fails if they did.
wait_lab_builds() {
	local rc=0
	wait "$bg" || rc=$?
	bg=""
	sed 's/^/  lab builds: /' "$bglog"
	if ((rc != 0)); then
		echo "make test: the lab's one-off builds failed (exit $rc)" >&2
		return 1
	fi
	echo "make test: the lab's one-off builds done, $(elapsed) s elapsed"
}

tiers=("$@")
has_netns=false
for t in "${tiers[@]}"; do if [[ "$t" == netns ]]; then has_netns=true; fi; done
for tier in "${tiers[@]}"; do
	if [[ "$tier" == netns && -n "$bg" ]]; then
		wait_lab_builds
	fi
	make --no-print-directory "$tier"
	echo "make test: $tier passed, $(elapsed) s elapsed"
	if [[ "$tier" == k8s-tools ]] && $has_netns && [[ "$(id -u)" -eq 0 ]]; then
		lab_builds
	fi
done
echo "make test: every tier passed in $(elapsed) s"
