# Bulwark. `make run` starts a local control plane with Bulwark wired in; `make test` runs
# every test. The control-plane binaries are built once from the Go module proxy by
# hack/tools.sh and cached in ~/.cache/bulwark (BULWARK_CACHE overrides).

SHELL   := /usr/bin/env bash
GO      ?= go
BIN     := bin/bulwark
# The release: the chart's version (charts/bulwark/Chart.yaml) is the one source, and a release
# is tagged "v" + it in git, in the image and in the chart's appVersion (test/helm,
# TestOneVersion, holds the Dockerfile, config/ and the README to it). A build says what git
# says: on the release's tag, VERSION is RELEASE_VERSION. docs/development.md, "Cutting a release".
CHART_VERSION   := $(shell sed -n 's/^version:[[:space:]]*//p' charts/bulwark/Chart.yaml)
RELEASE_VERSION := v$(CHART_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Where a release is published: the image as $(REGISTRY)/bulwark:$(VERSION), the chart as
# oci://$(REGISTRY)/charts/bulwark, version $(CHART_VERSION).
REGISTRY ?= ghcr.io/bulwark-k8s
IMG     ?= $(REGISTRY)/bulwark:$(VERSION)
# How the bulwark binary is built, here and in the Dockerfile (its builder stage runs the same
# command with -o /out/bulwark; test/image asserts that the two agree and that the binary is
# static). One definition: change the build here and in the Dockerfile together.
LDFLAGS        := -s -w -X main.version=$(VERSION)
GO_BUILD_ENV   := CGO_ENABLED=0
GO_BUILD_FLAGS := -trimpath -ldflags "$(LDFLAGS)"
# The binaries the tests start: etcd, kube-apiserver, kubectl, helm and promtool (test/helm lints
# the chart's alerts with it), and the node's (kubelet, kube-scheduler, kube-controller-manager,
# kube-proxy, containerd, and kube-router, which enforces NetworkPolicies); `make run` needs no
# helm or promtool.
NODE_TOOLS := kubelet kube-scheduler kube-controller-manager kube-proxy containerd kube-router
TEST_TOOLS := etcd kube-apiserver kubectl helm promtool $(NODE_TOOLS)
RUN_TOOLS  := etcd kube-apiserver kubectl $(NODE_TOOLS)
# Images for the node, packed without Docker (hack/image): Bulwark's own, and the test images
# (the pod sandbox's pause, a miner, root and non-root servers, the samples' stand-ins).
IMAGES      := .local/images
IMAGE_TAG   := bulwark.local/bulwark:$(VERSION)
# The packed chart; helm is the cached one (hack/tools.sh) unless HELM names another.
# HELM_FLAGS are added to helm push (--plain-http for a registry served over HTTP).
CHARTS      := .local/charts
HELM        ?=
HELM_FLAGS  ?=
helm         = $(or $(HELM),$$(hack/tools.sh helm | tail -n 1)/helm)

.PHONY: all build docker-build image image-push chart chart-push release-version test-images node-packages tools test unit vet fmt-check run clean bench bench-load bench-sweep bench-peers bench-audit fuzz deps-check

all: build

## build: the bulwark binary in bin/, static, as the container image builds it.
build:
	$(GO_BUILD_ENV) $(GO) build $(GO_BUILD_FLAGS) -o $(BIN) ./cmd/bulwark

## docker-build: the container image $(IMG) (distroless static, non-root), built as `make build` builds.
docker-build:
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

## image: Bulwark's image as a tarball ($(IMAGES)/bulwark.tar, $(IMAGE_TAG)), with the content of
## the Dockerfile's, built without a Docker daemon (test/image asserts that the two agree).
image: build
	$(GO) run ./hack/image bulwark --binary $(BIN) --tag $(IMAGE_TAG) --out $(IMAGES)/bulwark.tar

## image-push: push $(IMAGES)/bulwark.tar (make image) as $(IMG), with the credentials of
## ~/.docker/config.json; prints the digest, which is the tarball's.
image-push:
	$(GO) run ./hack/image push --tarball $(IMAGES)/bulwark.tar --tag $(IMAGE_TAG) --to $(IMG)

## chart: the chart packed as $(CHARTS)/bulwark-$(CHART_VERSION).tgz.
chart:
	@mkdir -p $(CHARTS)
	$(helm) package charts/bulwark --destination $(CHARTS)

## chart-push: push $(CHARTS)/bulwark-$(CHART_VERSION).tgz (make chart) to oci://$(REGISTRY)/charts
## (helm registry login first; HELM_FLAGS=--plain-http for a registry served over HTTP).
chart-push:
	$(helm) push $(CHARTS)/bulwark-$(CHART_VERSION).tgz oci://$(REGISTRY)/charts $(HELM_FLAGS)

## release-version: print the release the tree is at, "v" + the chart's version.
release-version:
	@echo $(RELEASE_VERSION)

## test-images: the node's test images in one tarball ($(IMAGES)/test.tar).
test-images:
	$(GO) run ./hack/image testimages --out $(IMAGES)/test.tar

## node-packages: runc, the CNI plugins and iptables from Debian's packages, where missing.
node-packages:
	@hack/node-packages.sh

## tools: build (once) and cache every external binary the project uses.
tools:
	hack/tools.sh all

## test: formatting, vet, and every test (unit, integration against a real kube-apiserver, kubectl
## end to end, the kustomize install, the Helm chart, the image, and Bulwark on a real node).
## test/node runs last and alone: its node measures CPU and must not share the machine with
## the other packages' control planes.
NODE_PKG := github.com/bulwark-k8s/bulwark/test/node
test: fmt-check vet node-packages
	@assets="$$(hack/tools.sh $(TEST_TOOLS) | tail -n 1)" && \
	echo "KUBEBUILDER_ASSETS=$$assets" && \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test -count=1 $$($(GO) list ./... | grep -vx '$(NODE_PKG)') && \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test -count=1 -timeout 20m $(NODE_PKG)

## unit: the tests that need no control plane.
unit:
	$(GO) test -count=1 ./pkg/... ./cmd/...

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l cmd internal pkg test hack)"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## run: a one-node cluster (an admission-only control plane where no node can run) with bulwark
## serve as its webhook, in the foreground until Ctrl-C.
run: build test-images node-packages
	@hack/tools.sh $(RUN_TOOLS) >/dev/null
	$(GO) build -o bin/local-cluster ./hack/run
	bin/local-cluster --binary $(BIN) --kubeconfig .local/kubeconfig --images $(IMAGES)/test.tar

## bench: the hot-path benchmarks beside the upstream Pod Security admission, /mutate with image
## lookups (the cache warm, and against a registry that stalls), and `bulwark scan` over 10,000
## generated manifests and over one file of 20,000 objects (docs/performance.md); raw results in
## .local/bench. Not part of `make test`. BENCH selects benchmarks, BENCH_COUNT rounds, BENCH_TIME
## is -benchtime. The rounds run every benchmark once each, so that load from elsewhere spreads
## over all of them.
BENCH       ?= .
BENCH_COUNT ?= 6
BENCH_TIME  ?= 1s
BENCH_OUT   := .local/bench
BENCHSTAT   ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
bench: build
	@mkdir -p $(BENCH_OUT)
	$(GO) test -c -o $(BENCH_OUT)/bench.test ./test/bench/
	@rm -f $(BENCH_OUT)/hotpath.txt
	@for i in $$(seq $(BENCH_COUNT)); do \
		echo "== round $$i of $(BENCH_COUNT): go test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCH_TIME) ./test/bench/"; \
		(cd test/bench && $(CURDIR)/$(BENCH_OUT)/bench.test -test.run '^$$' -test.bench '$(BENCH)' -test.benchmem \
			-test.benchtime $(BENCH_TIME) -test.timeout 60m) | tee -a $(BENCH_OUT)/hotpath.txt; \
		[[ $${PIPESTATUS[0]} == 0 ]] || exit 1; \
	done
	@echo "== bulwark scan over 10,000 generated manifests, then one file of 20,000 objects (hack/bench/scan)"
	$(GO) run ./hack/bench/scan --binary $(BIN) --runs $(BENCH_COUNT) | tee $(BENCH_OUT)/scan.txt
	@echo "== every benchmark: median and 95% confidence interval"
	@$(BENCHSTAT) $(BENCH_OUT)/hotpath.txt | tee $(BENCH_OUT)/summary.txt
	@$(BENCHSTAT) $(BENCH_OUT)/scan.txt | tee -a $(BENCH_OUT)/summary.txt
	@for step in Decode Evaluate DecodeEvaluate Mutate Handle ServeHTTP; do \
		echo "== $$step: Bulwark beside PSA, per fixture (vs base: against the first column, PSA)"; \
		$(BENCHSTAT) -filter ".name:$$step" -col /engine -row /fixture $(BENCH_OUT)/hotpath.txt | tee -a $(BENCH_OUT)/summary.txt; \
	done
	@echo "== the target: Bulwark's whole request (ServeHTTP) against PSA's bare evaluator plus JSON decoding"
	@$(BENCHSTAT) -filter "(.name:DecodeEvaluate /engine:psa-restricted) OR (.name:ServeHTTP (/engine:bulwark-validate-restricted OR /engine:bulwark-validate-nsa)) OR (.name:Handle (/engine:bulwark-validate-restricted OR /engine:bulwark-validate-nsa))" \
		-col .name,/engine -row /fixture $(BENCH_OUT)/hotpath.txt | tee -a $(BENCH_OUT)/summary.txt
	@echo "== image lookups: /mutate with the cache warm beside plain /mutate, what the lookups add, and a cold lookup against a stalled registry (budget 100 ms)"
	@$(BENCHSTAT) -filter ".name:ServeHTTP (/engine:bulwark-mutate-nsa OR /engine:bulwark-mutate-nsa-images)" -col /engine -row /fixture \
		$(BENCH_OUT)/hotpath.txt | tee -a $(BENCH_OUT)/summary.txt
	@$(BENCHSTAT) -filter ".name:ImageUsers OR .name:ImageLookupCold" $(BENCH_OUT)/hotpath.txt | tee -a $(BENCH_OUT)/summary.txt
	@$(MAKE) --no-print-directory bench-load

## bench-load: the HTTPS load test (hack/bench/load): bulwark serve and the upstream Pod Security
## webhook, each pinned to one core with GOMAXPROCS=1, on the same AdmissionReviews; hey finds
## the saturation throughput, vegeta the latency at LOAD_RATES, LOAD_ROUNDS times over (the
## report gives the median and the range of p99); then the plot of docs/performance.md. About 8
## minutes per round; results in .local/bench/load. Needs taskset and 2 cores.
LOAD_RATES    ?= 500,1000,2000,3000,4000
LOAD_DURATION ?= 10s
LOAD_ROUNDS   ?= 1
LOAD_FLAGS    ?=
bench-load: build
	@mkdir -p $(BENCH_OUT)/load
	@set -o pipefail; tools="$$(hack/tools.sh etcd kube-apiserver kubectl vegeta hey pod-security-webhook | tail -n 1)" && \
	$(GO) run ./hack/bench/load --binary $(BIN) --tools "$$tools" --rates $(LOAD_RATES) --rounds $(LOAD_ROUNDS) --duration $(LOAD_DURATION) \
		--saturation-duration $(LOAD_DURATION) --out $(BENCH_OUT)/load $(LOAD_FLAGS) | tee $(BENCH_OUT)/load/summary.txt
	cd hack/bench/plot && $(GO) run . -in $(CURDIR)/$(BENCH_OUT)/load/load.json -out $(CURDIR)/$(BENCH_OUT)/load/latency.png
	@echo "== plot: $(BENCH_OUT)/load/latency.png (docs/images/load-latency.png is the one the docs show)"

## bench-sweep: /validate and the Pod Security webhook as a pod runs them: unpinned, with their
## default GOMAXPROCS, beside the load generator, bulwark serve with the audit, metrics and logs
## on as `make run` runs it; hey, closed loop, at SWEEP connections, SWEEP_ROUNDS rounds of
## SWEEP_DURATION each, interleaved; then the plot of docs/performance.md. About 8 minutes;
## results in .local/bench/sweep. LOAD_FLAGS=--contention adds each /validate run's CPU, mutex
## and block profiles and a trace.
SWEEP          ?= 1,4,16,64
SWEEP_ROUNDS   ?= 5
SWEEP_DURATION ?= 10s
bench-sweep: build
	@mkdir -p $(BENCH_OUT)/sweep
	@set -o pipefail; tools="$$(hack/tools.sh etcd kube-apiserver kubectl vegeta hey pod-security-webhook | tail -n 1)" && \
	$(GO) run ./hack/bench/load --binary $(BIN) --tools "$$tools" --unpinned --sweep $(SWEEP) --rates "" --fixtures restricted-pod \
		--rounds $(SWEEP_ROUNDS) --saturation-duration $(SWEEP_DURATION) --out $(BENCH_OUT)/sweep \
		--serve-flags "--audit-interval=20s --log-level=info --metrics-bind-address=127.0.0.1:0" $(LOAD_FLAGS) | tee $(BENCH_OUT)/sweep/summary.txt
	cd hack/bench/plot && $(GO) run . -in $(CURDIR)/$(BENCH_OUT)/sweep/load.json -sweep-out $(CURDIR)/$(BENCH_OUT)/sweep/latency.png
	@echo "== plot: $(BENCH_OUT)/sweep/latency.png (docs/images/load-sweep.png is the one the docs show)"

## bench-peers: Bulwark beside Kyverno and Gatekeeper (hack/bench/peers), each in turn the only
## webhook of one kube-apiserver, enforcing the Pod Security baseline level, after the apiserver
## with no webhook (the floor): server-side dry-run pod creates at PEER_RATES for PEER_DURATION
## each; the client's p50/p99, the apiserver's webhook latency histogram, the engine's CPU and
## RSS per 1,000 admissions (docs/performance.md). hack/tools.sh builds Kyverno and Gatekeeper
## on first use (about half an hour each). Results in .local/bench/peers.
## PEER_FLAGS="--idle 60s --profile": each engine's CPU with no requests, and Bulwark's CPU
## profile per rate (bulwark-RATE.pprof).
## PEER_FLAGS="--kyverno-policies DIR --gatekeeper-library DIR": the peers with the published
## policies, from checkouts of kyverno/policies (DIR: pod-security/baseline) and
## gatekeeper-library (DIR: library/pod-security-policy), instead of the harness's own.
PEER_RATES    ?= 50,100,200
PEER_DURATION ?= 20s
PEER_ENGINES  ?= none,bulwark,kyverno,gatekeeper
PEER_FLAGS    ?=
bench-peers: build
	@mkdir -p $(BENCH_OUT)/peers
	@set -o pipefail; tools="$$(hack/tools.sh etcd kube-apiserver kubectl kyverno gatekeeper | tail -n 1)" && \
	$(GO) run ./hack/bench/peers --binary $(BIN) --tools "$$tools" --engines $(PEER_ENGINES) --rates $(PEER_RATES) \
		--duration $(PEER_DURATION) --out $(BENCH_OUT)/peers $(PEER_FLAGS) | tee $(BENCH_OUT)/peers/summary.txt

## bench-audit: the audit of a real kube-apiserver holding AUDIT_COUNTS objects (hack/bench/audit):
## each count created straight through the apiserver, then audited by audit.Run and the Runner
## in process (wall time, live heap, list pages, watches) and by `bulwark scan --cluster` (wall
## time, peak RSS, the apiserver's LIST and WATCH counts). About 5 minutes for the default
## counts; results and heap profiles in .local/bench/audit (docs/performance.md).
AUDIT_COUNTS ?= 5000,20000,50000
bench-audit: build
	@mkdir -p $(BENCH_OUT)/audit
	@set -o pipefail; tools="$$(hack/tools.sh etcd kube-apiserver kubectl | tail -n 1)" && \
	$(GO) run ./hack/bench/audit --binary $(BIN) --tools "$$tools" --counts $(AUDIT_COUNTS) \
		--heap-profile $(BENCH_OUT)/audit | tee $(BENCH_OUT)/audit/summary.txt

## fuzz: run each fuzz target for FUZZTIME (default 30s), one after the other: the admission
## handlers end to end and the mutation invariants, policy decoding and manifest reading. Not
## part of `make test`, which runs their seed corpora. FUZZMINTIME bounds the minimization of
## each new input (go test's default, 60s, would take most of a short run); FUZZFLAGS adds go
## test flags (such as -parallel 1). Logs go to .local/fuzz. An input that fails is saved under
## the package's testdata/fuzz/<target>/: commit it with the fix, and `make test` keeps it
## fixed. Go 1.26 can fail a target with "context deadline exceeded" as its FUZZTIME ends, a
## race in its fuzzing coordinator (go.dev/issue/75804): with no input saved, that is reported
## and the next target runs.
FUZZTIME    ?= 30s
FUZZMINTIME ?= 1s
FUZZFLAGS   ?=
FUZZ_OUT    := .local/fuzz
FUZZ_TARGETS := \
	FuzzMutationInvariants:./pkg/admission \
	FuzzAdmissionReview:./pkg/admission \
	FuzzHandlers:./pkg/admission \
	FuzzPolicyParse:./pkg/policy \
	FuzzProfileParity:./pkg/policy \
	FuzzRead:./pkg/scan
fuzz:
	@mkdir -p $(FUZZ_OUT)
	@for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; saved=$$pkg/testdata/fuzz/$$name; \
		before=$$(ls $$saved 2>/dev/null | wc -l); \
		echo "== go test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $(FUZZFLAGS) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $(FUZZFLAGS) $$pkg 2>&1 \
			| tee $(FUZZ_OUT)/$$name.txt; \
		[[ $${PIPESTATUS[0]} == 0 ]] && continue; \
		if [[ $$(ls $$saved 2>/dev/null | wc -l) == $$before ]] && grep -qx '    context deadline exceeded' $(FUZZ_OUT)/$$name.txt; then \
			echo "== $$name: no failing input; the deadline error is Go's (go.dev/issue/75804)"; continue; \
		fi; \
		exit 1; \
	done

## deps-check: the direct dependencies behind their newest patch release (go list -m -versions,
## through the module proxy); exits 1 when there is one. Those held at a version on purpose are
## listed in hack/deps-held.txt with the reason, and printed apart. Not part of `make test`,
## which must not depend on what the proxy serves today.
deps-check:
	@$(GO) build -o bin/depscheck ./hack/depscheck
	@bin/depscheck --held hack/deps-held.txt

clean:
	rm -rf bin .local
