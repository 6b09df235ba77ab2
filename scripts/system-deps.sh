#!/usr/bin/env bash
# Install the Debian packages kubelab needs, only those that are missing.
# Each line: a command that must exist, and the Debian package that provides it.
set -euo pipefail

need=(
  "ip iproute2"
  "iptables-restore iptables"
  "etcd etcd-server"
  "etcdctl etcd-client"
  "haproxy haproxy"
  "ping iputils-ping"
  "pgrep procps"
  "busybox busybox"
  "nsenter util-linux"
)

missing=()
for entry in "${need[@]}"; do
  cmd=${entry%% *}
  pkg=${entry#* }
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# Debian's python3 needs python3-venv for `python3 -m venv`.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("python3-venv")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
