#!/bin/bash
# Runs one static-pod container the way kubelet would see its filesystem: the host's root, plus
# the pod's hostPath volumes bound at their mountPath (read-only where the manifest says so).
# Must run inside a private mount namespace (`unshare -m --propagation private`): the bind mounts
# and the tmpfs root exist only there and vanish with the process.
#
# usage: run-container.sh WORKDIR [SRC:DST[:ro]]... -- COMMAND [ARG]...
set -euo pipefail

work=$1
shift
mounts=()
while [[ $# -gt 0 && $1 != -- ]]; do
  mounts+=("$1")
  shift
done
[[ ${1:-} == -- ]] || { echo "run-container.sh: missing -- before the command" >&2; exit 2; }
shift

root=$work/rootfs
mkdir -p "$root"
# a tmpfs root holding the host's top-level entries: mount points can be created in it without
# touching the host's /
mount -t tmpfs -o mode=0755 rootfs "$root"
for entry in /*; do
  name=${entry#/}
  if [[ -L $entry ]]; then
    ln -s "$(readlink "$entry")" "$root/$name"
  elif [[ -d $entry ]]; then
    mkdir "$root/$name"
    mount --rbind "$entry" "$root/$name"
  fi
done
for m in "${mounts[@]}"; do
  IFS=: read -r src dst mode <<<"$m"
  mkdir -p "$root$dst"
  mount --bind "$src" "$root$dst"
  if [[ ${mode:-} == ro ]]; then
    mount -o remount,bind,ro "$root$dst"
  fi
done
cd "$root"
exec chroot "$root" "$@"
