# frontdesk: one Makefile for building, testing and benchmarking.
#
#   make build        every binary into bin/, with the version from git (frontdesk-* --version)
#   make images       container images as OCI archives into bin/images/ (docs/images.md)
#   make images-check builds the images twice and compares their digests (reproducibility)
#   make images-lock  records the Debian package versions the images use in hack/images/debian.lock
#   make generate     deepcopy code and CRDs (charts/frontdesk/crds) from api/ (controller-gen, pinned in hack/tools)
#   make verify-generated  fails if make generate would change anything
#   make metrics-doc  rewrites docs/metrics.md from the metric definitions (make unit fails when it is stale)
#   make unit         fast tests: no root, no network, no external binaries
#   make alerts-test  the chart's alert rules, checked and unit-tested by promtool (pinned in hack/promtool)
#   make lint         gofmt, go vet, golangci-lint, govulncheck (pinned in hack/tools/go.mod, run with `go tool`)
#   make vulncheck    govulncheck against a pinned snapshot of the Go vulnerability database
#   make test         THE test command: installs what is missing, then runs every tier
#   make bench        benchmarks; figures are written to docs/benchmarks.md
#   make k8s-tools    builds kube-apiserver, etcd, ... from pinned sources into a cache
#   make conformance-tools  builds Kubernetes' e2e.test from the same pinned sources into that cache (test/conformance)
#   make conformance-images the images only the e2e tests use, into bin/conformance-images/ (test/conformance)
#   make conformance        runs those tests against a lab with frontdesk, then with kube-proxy (docs/conformance.md)
#   make conformance-list   rewrites test/conformance/tests.txt: the e2e tests test/conformance/selection picks
#   make lab          a whole cluster in network namespaces on this machine (lab/README.md)
#   make lab-down     removes the lab: processes, namespaces, nftables tables, files

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
# The Go every target builds and tests with, fetched once through the module proxy as any module
# is: the machine's own Go (1.26.8) has standard-library vulnerabilities that the code reaches and
# 1.26.10 fixes (make vulncheck). Scripts, test binaries and their child builds inherit it.
export GOTOOLCHAIN := go1.26.10
GO ?= go
TOOL := $(GO) tool -modfile=hack/tools/go.mod
export FRONTDESK_CACHE ?= $(HOME)/.cache/frontdesk
# Everything builds as the images do (hack/images: static, -trimpath), tests and the lab's binaries
# included, so that each package is compiled once for all of them: from empty caches the images'
# build then finds the tree already compiled by the test tiers. Only the race detector needs cgo.
export CGO_ENABLED ?= 0
export GOFLAGS := $(strip $(filter-out -trimpath,$(shell $(GO) env GOFLAGS)) -trimpath)
# The Helm chart's tests: their own Go module (Helm's dependencies stay out of go.mod). -count=1
# because the Go test cache does not notice edits to the chart's templates, which it reads.
CHART_TEST := charts/frontdesk/test
# The helm CLI pinned in $(CHART_TEST)/go.mod, built once into the cache (hack/helm.sh); expanded
# only where a recipe uses it, e.g. `$(HELM) lint charts/frontdesk --set image.registry=localhost`.
HELM = $(shell bash hack/helm.sh --print)

# Packages holding tests of a tier, found by their build tag so that a tier starts its heavy fixtures
# (a control plane, network namespaces) only where they are used.
tier_pkgs = $(shell grep -rl --include='*_test.go' -E '^//go:build .*\b$(1)\b' . 2>/dev/null \
	| grep -v -e '^./hack/k8s/' -e '^./hack/tools/' -e '^./$(CHART_TEST)/' | xargs -r -n1 dirname | sort -u)
# The integration tier leaves out files that also need root (netns): the netns tier runs those,
# and a package made only of them has nothing to build without the tag.
integration_pkgs = $(shell grep -rl --include='*_test.go' -E '^//go:build .*\bintegration\b' . 2>/dev/null \
	| grep -v -e '^./hack/k8s/' -e '^./hack/tools/' -e '^./$(CHART_TEST)/' \
	| xargs -r grep -L -E '^//go:build .*\bnetns\b' | xargs -r -n1 dirname | sort -u)

.PHONY: all version build images images-check images-lock generate verify-generated metrics-doc alerts-test vulncheck unit unit-race lint fmt deps k8s-tools conformance-tools conformance-images conformance conformance-list integration netns test bench lab lab-down clean help

all: build

help:
	@sed -n 's/^#   //p' Makefile

# Version stamping (internal/version, and component-base's variables for frontdesk-controller's
# --version and kubernetes_build_info). The build date is the commit's date, so that two builds
# of one commit are identical. VERSION becomes the images' tag: characters a tag refuses become -.
# It must start with vX.Y.Z: component-base's metrics registry parses gitVersion so and panics
# otherwise (frontdesk-controller, frontdesk-speaker). Without a tag, git describe gives only the
# commit, which becomes v0.0.0-<commit>, as Kubernetes names untagged builds.
VERSION ?= $(shell d=$$(git describe --tags --always --dirty 2>/dev/null | sed 's/[^A-Za-z0-9_.-]/-/g'); \
	if echo "$$d" | grep -qE '^v[0-9]+\.[0-9]+\.[0-9]+'; then echo "$$d"; else echo "v0.0.0-$${d:-unknown}"; fi)
ifeq ($(shell echo '$(VERSION)' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+'),)
$(error VERSION=$(VERSION) must start with vX.Y.Z: Kubernetes' metrics parse it)
endif
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
TREE_STATE ?= $(shell if [ -z "$$(git status --porcelain 2>/dev/null)" ]; then echo clean; else echo dirty; fi)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/frontdesk-lb/frontdesk/internal/version
CB_VERSION := k8s.io/component-base/version
LDFLAGS := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) \
	-X $(VERSION_PKG).treeState=$(TREE_STATE) -X $(VERSION_PKG).buildDate=$(BUILD_DATE) \
	-X $(CB_VERSION).gitVersion=$(VERSION) -X $(CB_VERSION).gitCommit=$(COMMIT) \
	-X $(CB_VERSION).gitTreeState=$(TREE_STATE) -X $(CB_VERSION).buildDate=$(BUILD_DATE) \
	-X $(CB_VERSION)/verflag.programName=frontdesk-controller

# The version make build and make images stamp, e.g. for the lab to tell whether its images are current.
version:
	@echo $(VERSION)

build:
	@mkdir -p bin
	@if compgen -G 'cmd/*/main.go' >/dev/null; then $(GO) build -ldflags='$(LDFLAGS)' -o bin/ ./cmd/...; else echo "build: no binaries yet"; fi

# Images: IMAGE_REGISTRY prefixes frontdesk's own image names (podman's convention for local
# images; push them to your registry with a name of its own, docs/images.md). IMAGES selects some
# by name (IMAGES="busybox pause"). The coredns image is made from the CoreDNS that
# lab/tools/node-build.sh builds, when it is there (FRONTDESK_COREDNS=/path/to/coredns names another).
IMAGE_REGISTRY ?= localhost
COREDNS_DIR = $(shell bash lab/tools/node-build.sh --print-coredns-dir)
images images-check images-lock: export FRONTDESK_COREDNS ?= $(wildcard $(COREDNS_DIR)/coredns)
images images-check images-lock: export FRONTDESK_COREDNS_VERSION ?= $(patsubst coredns-%,%,$(notdir $(patsubst %/bin,%,$(COREDNS_DIR))))
IMAGES ?=
IMAGES_FLAGS = --registry=$(IMAGE_REGISTRY) --version=$(VERSION) --revision=$(COMMIT) \
	--source-date-epoch=$(SOURCE_DATE_EPOCH) --go-ldflags='$(LDFLAGS)'

images:
	$(GO) run ./hack/images $(IMAGES_FLAGS) $(IMAGES)

# Rewrites hack/images/debian.lock with the Debian package versions the archive serves now.
images-lock:
	$(GO) run ./hack/images $(IMAGES_FLAGS) --write-lock $(IMAGES)

# Two builds into separate folders; any digest that differs fails.
images-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  $(GO) run ./hack/images $(IMAGES_FLAGS) --out="$$tmp/a" $(IMAGES) >"$$tmp/a.txt"; \
	  $(GO) run ./hack/images $(IMAGES_FLAGS) --out="$$tmp/b" $(IMAGES) >"$$tmp/b.txt"; \
	  (cd "$$tmp/a" && sha256sum *.tar) >"$$tmp/a.sum"; (cd "$$tmp/b" && sha256sum *.tar) >"$$tmp/b.sum"; \
	  sed "s|$$tmp/a/||" "$$tmp/a.txt" >"$$tmp/a.norm"; sed "s|$$tmp/b/||" "$$tmp/b.txt" >"$$tmp/b.norm"; \
	  if ! diff "$$tmp/a.norm" "$$tmp/b.norm" || ! diff "$$tmp/a.sum" "$$tmp/b.sum"; then \
	    echo "images-check: two builds of one commit differ" >&2; exit 1; fi; \
	  cat "$$tmp/a.norm"; cat "$$tmp/a.sum"; echo "images-check: two builds gave identical images and archives"

# The frontdesk.dev types' deep copies and CRDs (controller-gen), and their clientset, listers and
# informers (Kubernetes' code generators, as client-go's own are made) under api/generated, which
# is removed first so that a kind or method dropped from the types leaves no file behind.
GEN_PKG = github.com/frontdesk-lb/frontdesk/api/generated
GEN_FLAGS = --go-header-file=/dev/null

generate:
	$(TOOL) controller-gen object paths=./api/v1alpha1/...
	$(TOOL) controller-gen crd paths=./api/v1alpha1/... output:crd:dir=charts/frontdesk/crds
	rm -rf api/generated
	$(TOOL) client-gen $(GEN_FLAGS) --clientset-name=versioned --input-base=github.com/frontdesk-lb/frontdesk \
	  --input=api/v1alpha1 --output-dir=api/generated/clientset --output-pkg=$(GEN_PKG)/clientset
	$(TOOL) lister-gen $(GEN_FLAGS) --output-dir=api/generated/listers --output-pkg=$(GEN_PKG)/listers \
	  ./api/v1alpha1
	$(TOOL) informer-gen $(GEN_FLAGS) --versioned-clientset-package=$(GEN_PKG)/clientset/versioned \
	  --listers-package=$(GEN_PKG)/listers --output-dir=api/generated/informers \
	  --output-pkg=$(GEN_PKG)/informers ./api/v1alpha1

# docs/metrics.md: every metric, read from the source by internal/metricsdoc, whose tests (in make
# unit) check the naming conventions and fail when the document is stale.
metrics-doc:
	$(GO) test -count=1 ./internal/metricsdoc -run TestDocIsCurrent -update

# Regenerates, then compares with a copy taken before: any difference means the committed (or
# working-tree) generated files were stale. Works in a dirty tree, unlike a git status check.
verify-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cp -a api "$$tmp/api"; cp -a charts/frontdesk/crds "$$tmp/crds"; \
	  $(MAKE) --no-print-directory generate >/dev/null; \
	  if ! diff -r "$$tmp/api" api >/dev/null || ! diff -r "$$tmp/crds" charts/frontdesk/crds >/dev/null; then \
	    echo "verify-generated: generated files were stale; make generate has now rewritten them:" >&2; \
	    diff -r "$$tmp/api" api >&2 || true; diff -r "$$tmp/crds" charts/frontdesk/crds >&2 || true; \
	    exit 1; \
	  fi; echo "verify-generated: up to date"

# The test tiers run with -vet=off: make lint runs go vet over every build tag, so go test's own
# vet step (a second analysis of every package, in each tier) would only repeat it.
unit:
	$(GO) test -vet=off ./...
	cd $(CHART_TEST) && $(GO) test -vet=off -count=1 ./...

unit-race: export CGO_ENABLED = 1
unit-race:
	$(GO) test -race ./...
	cd $(CHART_TEST) && $(GO) test -race -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: verify-generated vulncheck
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' | grep -v -e '^hack/k8s/' -e '^hack/tools/')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags integration,netns ./...
	$(TOOL) golangci-lint run --allow-serial-runners --build-tags integration,netns ./...
	cd $(CHART_TEST) && $(GO) vet -tags integration ./... && \
	  $(GO) tool -modfile=$(CURDIR)/hack/tools/go.mod golangci-lint run --allow-serial-runners --build-tags integration ./...

# govulncheck over the module against a pinned snapshot of the Go vulnerability database (the
# module golang.org/x/vulndb, through the module proxy); fails on a vulnerability the code reaches
# unless hack/vulncheck/accepted.txt accepts it with a reason. Part of make lint.
VULNDB_VERSION = v0.0.0-20261105234957-e22db6528018

vulncheck:
	$(GO) run ./hack/vulncheck --vulndb-version=$(VULNDB_VERSION) ./...

deps:
	@bash hack/install-deps.sh

k8s-tools:
	@bash hack/k8s/build.sh

# Not part of make test: e2e.test is a long build of its own (test/conformance/README.md).
conformance-tools:
	@bash hack/k8s/build.sh --e2e

# The images only Kubernetes' e2e tests use (glibc-dns-testing, nginx, regression-issue-74839, busybox
# under the framework's tag, agnhost with the tools the tests exec in it), into a folder of their own
# that make images, the lab and make test never read; push them to a lab's registry as
# test/conformance/README.md says.
CONFORMANCE_IMAGES_OUT ?= bin/conformance-images
conformance-images:
	$(GO) run ./hack/images $(IMAGES_FLAGS) --conformance --out=$(CONFORMANCE_IMAGES_OUT) $(IMAGES)

# Not part of make test (a run of every selected test takes long): the selection against a lab with
# frontdesk's node proxy, then against one with the real kube-proxy, and the results section of
# docs/conformance.md. CONFORMANCE_FLAGS='--focus=REGEXP --proxies=frontdesk' runs fewer
# (test/conformance/README.md).
CONFORMANCE_FLAGS ?=
conformance: conformance-tools conformance-images
	@mkdir -p bin && $(GO) build -o bin/frontdesk-lab ./cmd/frontdesk-lab
	$(GO) run ./test/conformance/run $(CONFORMANCE_FLAGS)

conformance-list: conformance-tools
	$(GO) run ./test/conformance/list

K8S_BIN = $(shell bash hack/k8s/build.sh --print-dir)

integration: k8s-tools
	@pkgs="$(integration_pkgs)"; if [ -z "$$pkgs" ]; then echo "integration: no tests"; exit 0; fi; \
	  FRONTDESK_K8S_BIN=$(K8S_BIN) $(GO) test -vet=off -tags integration -count=1 -p 1 -timeout 30m $$pkgs
	cd $(CHART_TEST) && FRONTDESK_K8S_BIN=$(K8S_BIN) $(GO) test -vet=off -tags integration -count=1 -timeout 15m ./...

netns: deps
	@pkgs="$(call tier_pkgs,netns)"; if [ -z "$$pkgs" ]; then echo "netns: no tests"; exit 0; fi; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "netns: these tests need root: $$pkgs" >&2; exit 1; fi; \
	  FRONTDESK_K8S_BIN=$(K8S_BIN) $(GO) test -vet=off -tags netns,integration -count=1 -p 1 -timeout 30m $$pkgs

# Every test tier in turn, each with the time elapsed when it is done (hack/test.sh: it also builds
# the lab's one-off parts in the background during the unit and integration tiers). The unit tests run without
# -race here: the race detector's build of every package and its dependencies is a second compile
# of the tree (about 15 minutes on 2 cores from empty caches); CI runs make unit-race after make
# test. Lint is not a test tier: from empty caches it builds golangci-lint and vets the whole tree
# under every build tag (18 of a fresh make test's minutes on 2 cores), so it is its own target,
# run before each commit and by CI before make test.
TEST_TIERS = deps k8s-tools unit integration netns alerts-test

test:
	@bash hack/test.sh $(TEST_TIERS)

# The chart's alerts (charts/frontdesk/files/alerts.yaml) against their unit tests, with Prometheus'
# promtool built from pinned sources (hack/promtool/go.mod, its own module: Prometheus' dependencies
# stay out of go.mod). The first build takes minutes; make test starts it in the background.
PROMTOOL := $(GO) tool -modfile=hack/promtool/go.mod promtool
alerts-test:
	$(PROMTOOL) check rules charts/frontdesk/files/alerts.yaml
	$(PROMTOOL) test rules charts/frontdesk/test/alerts/alerts_test.yaml

bench:
	$(GO) run ./hack/benchreport $(SUITE)

# The lab (lab/README.md): LAB_NAME names it (namespace prefix), LAB_FLAGS adds flags to
# `frontdesk-lab up`, such as --nodes=3 or --proxy=kube-proxy.
LAB_NAME ?= fdlab
LAB_FLAGS ?=

lab:
	@mkdir -p bin && $(GO) build -o bin/frontdesk-lab ./cmd/frontdesk-lab
	@bin/frontdesk-lab up --name=$(LAB_NAME) $(LAB_FLAGS)

lab-down:
	@mkdir -p bin && $(GO) build -o bin/frontdesk-lab ./cmd/frontdesk-lab
	@bin/frontdesk-lab down --name=$(LAB_NAME)

clean:
	rm -rf bin/
