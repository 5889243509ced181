#!/usr/bin/env bash
# `npm run image:check` builds and runs the image with podman and runc, on a
# base made by mmdebstrap: Debian packages, installed where missing as root
# through apt-get; idempotent. Exits non-zero, loudly, when it cannot: the
# image check fails rather than skips without them.
set -euo pipefail
missing=()
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "ensureContainerTools: missing ${missing[*]} and this is not root with apt-get: install Debian's podman, runc and mmdebstrap packages (the image check needs them)" >&2
  exit 1
fi
echo "ensureContainerTools: installing Debian's ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second checkout's CI) may hold the lock: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq podman runc mmdebstrap >&2
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "ensureContainerTools: apt-get finished but $tool is still missing" >&2; exit 1; }
done
