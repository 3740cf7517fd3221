#!/bin/bash
# Runs one static-pod container the way kubelet would see its filesystem: the host's root, plus
# the pod's hostPath volumes bound at their mountPath (read-only where the manifest says so).
# Must run inside a private mount namespace (`unshare -m --propagation private`): the bind mounts
# and the tmpfs root exist only there and vanish with the process.
#
# With --rootfs DIR, the root is an unpacked image instead (its /proc and /dev as a container
# runtime provides them), nothing of the host is visible but the volumes, and the command gets
# only the environment given with --env (the image's and the pod's, as a runtime merges them).
#
# usage: run-container.sh [--rootfs DIR [--env NAME=VALUE]...] WORKDIR [SRC:DST[:ro]]... -- COMMAND [ARG]...
set -euo pipefail

image_root=
container_env=()
if [[ ${1:-} == --rootfs ]]; then
  image_root=$2
  shift 2
  while [[ ${1:-} == --env ]]; do
    container_env+=("$2")
    shift 2
  done
fi
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
if [[ -n $image_root ]]; then
  mount --bind "$image_root" "$root"
  mkdir -p "$root/proc" "$root/dev"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
else
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
fi
for m in "${mounts[@]}"; do
  IFS=: read -r src dst mode <<<"$m"
  mkdir -p "$root$dst"
  mount --bind "$src" "$root$dst"
  if [[ ${mode:-} == ro ]]; then
    mount -o remount,bind,ro "$root$dst"
  fi
done
cd "$root"
if [[ -n $image_root ]]; then
  exec env -i "${container_env[@]}" "$(command -v chroot)" "$root" "$@"
fi
exec chroot "$root" "$@"
