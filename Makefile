# Bulwark. `make run` starts a local control plane with Bulwark wired in; `make test` runs
# every test. The control-plane binaries are built once from the Go module proxy by
# hack/tools.sh and cached in ~/.cache/bulwark (BULWARK_CACHE overrides).

SHELL   := /usr/bin/env bash
GO      ?= go
BIN     := bin/bulwark
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMG     ?= ghcr.io/bulwark-k8s/bulwark:$(VERSION)
# How the bulwark binary is built, here and in the Dockerfile (its builder stage runs the same
# command with -o /out/bulwark; test/image asserts that the two agree and that the binary is
# static). One definition: change the build here and in the Dockerfile together.
LDFLAGS        := -s -w -X main.version=$(VERSION)
GO_BUILD_ENV   := CGO_ENABLED=0
GO_BUILD_FLAGS := -trimpath -ldflags "$(LDFLAGS)"
# The binaries the tests start: etcd, kube-apiserver, kubectl and helm; `make run` needs no helm.
TEST_TOOLS := etcd kube-apiserver kubectl helm
RUN_TOOLS  := etcd kube-apiserver kubectl

.PHONY: all build docker-build tools test unit vet fmt-check run clean

all: build

## build: the bulwark binary in bin/, static, as the container image builds it.
build:
	$(GO_BUILD_ENV) $(GO) build $(GO_BUILD_FLAGS) -o $(BIN) ./cmd/bulwark

## docker-build: the container image $(IMG) (distroless static, non-root), built as `make build` builds.
docker-build:
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

## tools: build (once) and cache every external binary the project uses.
tools:
	hack/tools.sh all

## test: formatting, vet, and every test (unit, integration against a real kube-apiserver, kubectl
## end to end, the kustomize install, the Helm chart, and the image's binary build).
test: fmt-check vet
	@assets="$$(hack/tools.sh $(TEST_TOOLS) | tail -n 1)" && \
	echo "KUBEBUILDER_ASSETS=$$assets" && \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test -count=1 ./...

## unit: the tests that need no control plane.
unit:
	$(GO) test -count=1 ./pkg/... ./cmd/...

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l cmd internal pkg test hack)"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## run: a local control plane with bulwark serve as its webhook, in the foreground until Ctrl-C.
run: build
	@hack/tools.sh $(RUN_TOOLS) >/dev/null
	$(GO) build -o bin/local-cluster ./hack/run
	bin/local-cluster --binary $(BIN) --kubeconfig .local/kubeconfig

clean:
	rm -rf bin .local
