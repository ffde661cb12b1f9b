#!/usr/bin/env bash
# Builds the control-plane binaries the tests and `make run` use, from the Go module proxy,
# and caches them outside the repository:
#   kube-apiserver, kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd), helm (helm.sh/helm/v4),
# for the node (`make run` and test/node, see docs/development.md): kubelet, kube-scheduler,
# kube-controller-manager and kube-proxy (k8s.io/kubernetes), containerd, ctr and containerd-shim-runc-v2
# (github.com/containerd/containerd/v2: Debian's containerd 1.6 lacks the CRI RuntimeConfig call
# kubelet 1.37 makes, so v2 is built here; runc, iptables and the CNI plugins come from Debian,
# installed by hack/node-packages.sh), and kube-router (github.com/cloudnativelabs/kube-router/v2),
# the node's NetworkPolicy firewall,
# and for the load benchmarks (`make bench-load`, not part of `all`): vegeta and hey (HTTP load
# generators) and pod-security-webhook (the upstream Pod Security webhook,
# k8s.io/pod-security-admission/cmd/webhook, the reference Bulwark is measured against),
# and promtool (github.com/prometheus/prometheus/cmd/promtool), with which test/helm lints the
# chart's PrometheusRule,
# and for the peer benchmark (`make bench-peers`): kyverno (github.com/kyverno/kyverno, its
# admission controller) and gatekeeper (github.com/open-policy-agent/gatekeeper/v3), each with
# its CustomResourceDefinitions beside it (kyverno.crds/, gatekeeper.crds/).
#
# Usage: hack/tools.sh [all|node|kube-apiserver|kubectl|etcd|helm|kubelet|kube-scheduler|
#                       kube-controller-manager|kube-proxy|containerd|vegeta|hey|pod-security-webhook|
#                       kube-router|promtool|kyverno|gatekeeper]...
# Prints the bin directory on its last line. BULWARK_CACHE overrides ~/.cache/bulwark.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.1}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
HELM_VERSION=${HELM_VERSION:-v4.3.1}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
# The commands built from k8s.io/kubernetes, all from one module.
KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubectl kubelet)
VEGETA_VERSION=${VEGETA_VERSION:-v12.13.0}
HEY_VERSION=${HEY_VERSION:-v0.1.5}
PSA_VERSION=${PSA_VERSION:-v0.${KUBE_VERSION#v1.}}
# Prometheus tags its Go module v0.<minor><patch>.x: v0.316.0 is Prometheus 3.16.0.
PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}
KYVERNO_VERSION=${KYVERNO_VERSION:-v1.19.1}
GATEKEEPER_VERSION=${GATEKEEPER_VERSION:-v3.23.1}
CACHE=${BULWARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulwark}
BIN="$CACHE/bin"
mkdir -p "$BIN"

log() { printf '[tools] %s\n' "$*" >&2; }

# have NAME VERSION: true when $BIN/NAME was built for VERSION.
have() { [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

timed() {
  local what=$1; shift
  local start=$SECONDS
  log "building $what (first build only; later runs use the cache in $BIN)"
  "$@" &
  local pid=$! next=30
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if ((SECONDS - start >= next)); then
      log "still building $what: $((SECONDS - start))s"
      next=$((next + 30))
    fi
  done
  wait "$pid"
  log "built $what in $((SECONDS - start))s"
}

# A throwaway module that requires k8s.io/kubernetes and replaces every module its go.mod
# points at ./staging/... with the matching published v0.x release.
kube_module() {
  local dir="$CACHE/src/kubernetes-$KUBE_VERSION"
  # .ready holds the commands the module was tidied for; a new command redoes it.
  if [[ "$(cat "$dir/.ready" 2>/dev/null)" != "${KUBE_COMMANDS[*]}" ]]; then
    mkdir -p "$dir"
    local staging_version="v0.${KUBE_VERSION#v1.}"
    (
      cd "$dir"
      rm -f go.mod go.sum
      cat >go.mod <<GOMOD
module bulwark.local/kubebuild

go 1.26
GOMOD
      go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
      local kmod
      kmod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
      [[ -f "$kmod" ]] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
      local n=0
      while read -r mod; do
        go mod edit -replace="$mod=$mod@$staging_version"
        n=$((n + 1))
      done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$kmod")
      log "k8s.io/kubernetes $KUBE_VERSION: replaced $n staging modules with $staging_version"
      {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        for c in "${KUBE_COMMANDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
        printf ')\n'
      } >tools.go
      go mod tidy -e >/dev/null 2>&1 || true
      go mod download
    )
    echo "${KUBE_COMMANDS[*]}" >"$dir/.ready"
  fi
  echo "$dir"
}

kube_ldflags() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X '$pkg.gitVersion=$KUBE_VERSION' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor'"
    f+=" -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=1970-01-01T00:00:00Z'"
  done
  echo "-s -w$f"
}

build_kube() { # name
  local name=$1
  have "$name" "$KUBE_VERSION" && return 0
  local dir
  dir=$(kube_module)
  timed "$name $KUBE_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags \"$(kube_ldflags)\" -o '$BIN/$name.tmp' k8s.io/kubernetes/cmd/$name"
  mv "$BIN/$name.tmp" "$BIN/$name"
  stamp "$name" "$KUBE_VERSION"
}

build_etcd() {
  have etcd "$ETCD_VERSION" && return 0
  local dir="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module bulwark.local/etcdbuild\n\ngo 1.26\n' >go.mod
    cat >main.go <<'GOSRC'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOSRC
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
    go mod tidy >/dev/null 2>&1
  )
  timed "etcd $ETCD_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o '$BIN/etcd.tmp' ."
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  stamp etcd "$ETCD_VERSION"
}

build_helm() {
  have helm "$HELM_VERSION" && return 0
  timed "helm $HELM_VERSION" env GOBIN="$BIN/.helm-tmp" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$BIN/.helm-tmp/helm" "$BIN/helm"
  rmdir "$BIN/.helm-tmp"
  stamp helm "$HELM_VERSION"
}

# promtool from a throwaway module that requires the Prometheus module at PROMTOOL_VERSION (the
# same shape as etcd's), so `promtool --version` names the release it was built from.
build_promtool() {
  have promtool "$PROMTOOL_VERSION" && return 0
  local dir="$CACHE/src/promtool-$PROMTOOL_VERSION"
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module bulwark.local/promtoolbuild\n\ngo 1.26\n\nrequire github.com/prometheus/prometheus %s\n' "$PROMTOOL_VERSION" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/prometheus/cmd/promtool"\n' >tools.go
    go mod tidy >/dev/null 2>&1
  )
  local ver=${PROMTOOL_VERSION#v0.} ldflags
  # v0.316.0 -> 3.16.0: the release the module version encodes.
  ver="${ver:0:1}.${ver:1}"
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$ver -X github.com/prometheus/common/version.Revision=$PROMTOOL_VERSION"
  timed "promtool $PROMTOOL_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags '$ldflags' -o '$BIN/promtool.tmp' github.com/prometheus/prometheus/cmd/promtool"
  mv "$BIN/promtool.tmp" "$BIN/promtool"
  stamp promtool "$PROMTOOL_VERSION"
}

# kube-router from a throwaway module that requires it (the shape of promtool's), its version
# stamped as its own Makefile does.
build_kube_router() {
  have kube-router "$KUBE_ROUTER_VERSION" && return 0
  local dir="$CACHE/src/kube-router-$KUBE_ROUTER_VERSION" mod=github.com/cloudnativelabs/kube-router/v2
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module bulwark.local/kuberouterbuild\n\ngo 1.26\n\nrequire %s %s\n' "$mod" "$KUBE_ROUTER_VERSION" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/kube-router"\n' "$mod" >tools.go
    go mod tidy >/dev/null 2>&1
  )
  local ldflags="-s -w -X $mod/pkg/version.Version=$KUBE_ROUTER_VERSION -X $mod/pkg/version.BuildDate=1970-01-01T00:00:00Z"
  timed "kube-router $KUBE_ROUTER_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags '$ldflags' -o '$BIN/kube-router.tmp' $mod/cmd/kube-router"
  mv "$BIN/kube-router.tmp" "$BIN/kube-router"
  stamp kube-router "$KUBE_ROUTER_VERSION"
}

# kyverno's admission controller from a throwaway module. Kyverno builds against its own fork of
# k8s.io/pod-security-admission: the replace line is its go.mod's. Its CRDs (config/crds) are
# copied beside the binary as kyverno.crds/.
build_kyverno() {
  have kyverno "$KYVERNO_VERSION" && [[ -d "$BIN/kyverno.crds" ]] && return 0
  local dir="$CACHE/src/kyverno-$KYVERNO_VERSION" mod=github.com/kyverno/kyverno
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module bulwark.local/kyvernobuild\n\ngo 1.26\n' >go.mod
    local kmod
    kmod=$(go mod download -json "$mod@$KYVERNO_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$kmod" ]] || { log "could not download $mod@$KYVERNO_VERSION"; exit 1; }
    awk '$1 == "replace" && $2 == "k8s.io/pod-security-admission" {print $2 "=" $4 "@" $5}' "$kmod" | while read -r r; do
      go mod edit -replace="$r"
    done
    go get "$mod/cmd/kyverno@$KYVERNO_VERSION" >/dev/null 2>&1
  )
  timed "kyverno $KYVERNO_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o '$BIN/kyverno.tmp' $mod/cmd/kyverno"
  local src
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' "$mod")
  rm -rf "$BIN/kyverno.crds"
  cp -r "$src/config/crds" "$BIN/kyverno.crds"
  chmod -R u+w "$BIN/kyverno.crds"
  mv "$BIN/kyverno.tmp" "$BIN/kyverno"
  stamp kyverno "$KYVERNO_VERSION"
}

# gatekeeper (one binary: --operation picks the webhook, audit and so on) from a throwaway
# module; the CustomResourceDefinitions of its release manifest (deploy/gatekeeper.yaml) are
# written beside it as gatekeeper.crds/crds.yaml.
build_gatekeeper() {
  have gatekeeper "$GATEKEEPER_VERSION" && [[ -f "$BIN/gatekeeper.crds/crds.yaml" ]] && return 0
  local dir="$CACHE/src/gatekeeper-$GATEKEEPER_VERSION" mod=github.com/open-policy-agent/gatekeeper/v3
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    printf 'module bulwark.local/gatekeeperbuild\n\ngo 1.26\n' >go.mod
    go get "$mod@$GATEKEEPER_VERSION" >/dev/null 2>&1
  )
  timed "gatekeeper $GATEKEEPER_VERSION" bash -c "cd '$dir' && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o '$BIN/gatekeeper.tmp' $mod"
  local src
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' "$mod")
  mkdir -p "$BIN/gatekeeper.crds"
  # Every document of the manifest whose kind is CustomResourceDefinition.
  awk '/^---/ {if (crd) printf "---\n%s", doc; doc = ""; crd = 0; next}
       {doc = doc $0 "\n"} /^kind: CustomResourceDefinition$/ {crd = 1}
       END {if (crd) printf "---\n%s", doc}' "$src/deploy/gatekeeper.yaml" >"$BIN/gatekeeper.crds/crds.yaml"
  mv "$BIN/gatekeeper.tmp" "$BIN/gatekeeper"
  stamp gatekeeper "$GATEKEEPER_VERSION"
}

# containerd, its shim and ctr from one module; the shim is stamped last, so a build cut short is
# redone whole.
build_containerd() {
  have containerd-shim-runc-v2 "$CONTAINERD_VERSION" && have containerd "$CONTAINERD_VERSION" && have ctr "$CONTAINERD_VERSION" && return 0
  local tmp="$BIN/.containerd-tmp" mod="github.com/containerd/containerd/v2" ver=${CONTAINERD_VERSION#v}
  rm -rf "$tmp"
  timed "containerd $CONTAINERD_VERSION" env GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X $mod/version.Version=$ver -X $mod/version.Revision=$CONTAINERD_VERSION" \
    "$mod/cmd/containerd@$CONTAINERD_VERSION" "$mod/cmd/ctr@$CONTAINERD_VERSION" \
    "$mod/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
  for b in containerd ctr containerd-shim-runc-v2; do
    mv "$tmp/$b" "$BIN/$b"
    stamp "$b" "$CONTAINERD_VERSION"
  done
  rmdir "$tmp"
}

# go_install NAME VERSION PACKAGE@VERSION: go install into the cache as NAME.
go_install() {
  local name=$1 version=$2 pkg=$3
  have "$name" "$version" && return 0
  local tmp="$BIN/.$name-tmp"
  rm -rf "$tmp"
  timed "$name $version" env GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' "$pkg"
  mv "$tmp"/* "$BIN/$name"
  rmdir "$tmp"
  stamp "$name" "$version"
}

targets=("$@")
node=(kubelet kube-scheduler kube-controller-manager kube-proxy containerd kube-router)
[[ ${#targets[@]} -eq 0 || "${targets[0]}" == all ]] && targets=(etcd kube-apiserver kubectl helm promtool "${node[@]}")
[[ "${targets[0]:-}" == node ]] && targets=("${node[@]}")
for t in "${targets[@]}"; do
  case "$t" in
    kube-apiserver | kubectl | kubelet | kube-scheduler | kube-controller-manager | kube-proxy) build_kube "$t" ;;
    containerd) build_containerd ;;
    etcd) build_etcd ;;
    helm) build_helm ;;
    vegeta) go_install vegeta "$VEGETA_VERSION" "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" ;;
    hey) go_install hey "$HEY_VERSION" "github.com/rakyll/hey@$HEY_VERSION" ;;
    promtool) build_promtool ;;
    kube-router) build_kube_router ;;
    kyverno) build_kyverno ;;
    gatekeeper) build_gatekeeper ;;
    pod-security-webhook) go_install pod-security-webhook "$PSA_VERSION" "k8s.io/pod-security-admission/cmd/webhook@$PSA_VERSION" ;;
    *) log "unknown tool: $t (want kube-apiserver, kubectl, etcd, helm, kubelet, kube-scheduler, kube-controller-manager, kube-proxy, containerd, kube-router, vegeta, hey, pod-security-webhook, promtool, kyverno, gatekeeper, node or all)"; exit 2 ;;
  esac
done
echo "$BIN"
