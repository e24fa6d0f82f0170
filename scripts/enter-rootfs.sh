#!/bin/sh
# Second stage of pc_run (scripts/lib.sh): runs as PID 1 of a private mount and
# PID namespace, mounts what the Python 3.14 root filesystem needs and enters it
# with a clean environment. Everything mounted here vanishes with the namespace.
# Usage: enter-rootfs.sh ROOT REPO WORKDIR VENV [NAME=value...] COMMAND [ARG...]
set -eu
root=$1 repo=$2 workdir=$3 venv=$4
shift 4
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir -p "$root$repo"
mount --bind "$repo" "$root$repo"
cp /etc/resolv.conf "$root/etc/resolv.conf"
exec chroot "$root" /usr/bin/env -i -C "$workdir" \
  HOME=/root LANG=C.UTF-8 VIRTUAL_ENV="$venv" \
  PATH="$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  "$@"
