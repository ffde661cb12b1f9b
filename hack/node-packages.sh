#!/usr/bin/env bash
# Installs the Debian packages the local node needs and this machine lacks: runc, the CNI
# plugins (containernetworking-plugins, in /usr/lib/cni), iptables for kube-proxy, ipset for
# kube-router's NetworkPolicy firewall, and util-linux's nsenter/unshare. containerd, the
# Kubernetes components and kube-router are built from the Go module proxy by hack/tools.sh
# instead. Without root or apt-get it installs nothing and says why; the node then reports what
# is missing (test/framework.NodeSupported).
set -euo pipefail

need=()
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
command -v nsenter >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
[[ ${#need[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[node-packages] not installing ${need[*]}: needs root and apt-get" >&2
  exit 0
fi
echo "[node-packages] apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
