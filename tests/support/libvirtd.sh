#!/usr/bin/env bash
# Start virtlogd and libvirtd without systemd, then wait until qemu:///system answers.
# The one place that knows how: `./dev setup` and the libvirt_conn test fixture both call it.
# Idempotent: does nothing when qemu:///system already answers. Needs root.
set -euo pipefail

URI=qemu:///system
export PATH=/usr/local/sbin:/usr/sbin:/sbin:$PATH
WAIT_SECONDS=${VMGUARD_LIBVIRTD_WAIT:-60}

die() { echo "libvirtd.sh: $*" >&2; exit 1; }

answers() { virsh -c "$URI" version >/dev/null 2>&1; }

# A daemon started with -d as root writes /run/<name>.pid. The file may be stale and its
# pid reused by another program, so check the process's name too.
running() {
  local pidfile=/run/$1.pid pid
  [[ -s $pidfile ]] || return 1
  pid=$(cat "$pidfile")
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]
}

# Debian's packages expect these accounts; their maintainer scripts create them only
# under systemd-aware installs, so make sure here.
ensure_accounts() {
  local group
  for group in kvm libvirt-qemu; do
    getent group "$group" >/dev/null || groupadd --system "$group"
  done
  getent group libvirt >/dev/null || groupadd --system libvirt
  if ! getent passwd libvirt-qemu >/dev/null; then
    useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt \
      --no-create-home --shell /usr/sbin/nologin libvirt-qemu
  fi
}

# Debian's libvirt-daemon-system would make these, but it also brings the NAT'd
# 'default' network, which tests must never have: make only the directories.
ensure_dirs() {
  mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu
}

start_daemon() {
  local name=$1
  command -v "$name" >/dev/null || die "$name not installed (apt-get install libvirt-daemon)"
  running "$name" && return 0
  echo "libvirtd.sh: starting $name" >&2
  "$name" -d || die "$name -d failed"
}

main() {
  answers && return 0
  [[ $(id -u) -eq 0 ]] || die "must run as root to start libvirtd"
  command -v virsh >/dev/null || die "virsh not installed (apt-get install libvirt-clients)"
  ensure_accounts
  ensure_dirs
  start_daemon virtlogd
  start_daemon libvirtd
  local deadline=$((SECONDS + WAIT_SECONDS))
  until answers; do
    ((SECONDS < deadline)) || die "$URI did not answer within ${WAIT_SECONDS}s (see: virsh -c $URI version)"
    sleep 0.5
  done
  echo "libvirtd.sh: $URI answers" >&2
}

main "$@"
