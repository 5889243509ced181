#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium through playwright-core
# (which downloads no browser of its own). Installs it where missing, as root
# through apt-get; idempotent. Exits non-zero, loudly, when it cannot: the
# browser suite fails rather than skips without it.
set -euo pipefail
CHROMIUM="${OUTBOX_RELAY_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "ensureChromium: $CHROMIUM is missing and this is not root with apt-get: install Debian's chromium package (the console's browser tests need it)" >&2
  exit 1
fi
echo "ensureChromium: installing Debian's chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second checkout's CI) may hold the lock: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >&2
if [[ ! -x "$CHROMIUM" ]]; then
  echo "ensureChromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
