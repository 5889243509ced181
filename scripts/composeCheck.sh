#!/usr/bin/env bash
# Validates docker-compose.yml (or the files given) with compose-go, the
# loader Docker Compose itself uses (tools/composecheck: schema, so unknown
# keys and wrong types fail; interpolation; consistency). The checker is built
# once from the Go module proxy into the cache, keyed by the hash of its
# sources and go.sum, so a second run only runs it.
#
# Usage: scripts/composeCheck.sh [FILE...]      (default: docker-compose.yml)
#        scripts/composeCheck.sh --build        prints the checker's path
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_DIR="${OUTBOX_RELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
SRC="$REPO/tools/composecheck"
export PATH="$PATH:/usr/local/go/bin"

key="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC"/*.go | sha256sum | cut -c1-16)"
BIN="$CACHE_DIR/composecheck-$key/composecheck"
if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null || { echo "composeCheck: the Go toolchain is not installed; it builds tools/composecheck (compose-go)" >&2; exit 1; }
  echo "composeCheck: building tools/composecheck (compose-go from the Go module proxy) into $(dirname "$BIN")" >&2
  mkdir -p "$(dirname "$BIN")"
  (cd "$SRC" && GOFLAGS=-mod=readonly go build -trimpath -o "$BIN.tmp" . >&2) && mv "$BIN.tmp" "$BIN"
fi
if [[ "${1:-}" == "--build" ]]; then echo "$BIN"; exit 0; fi
if [[ $# -eq 0 ]]; then set -- "$REPO/docker-compose.yml"; fi
exec "$BIN" "$@"
