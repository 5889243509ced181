#!/usr/bin/env bash
# Builds FerretDB v1.24.2 once from the Go module proxy into a cache folder
# outside the repo, so a fresh clone on the same machine (CI) reuses it.
#
# Why the copy + replace: FerretDB's build/version package panics at start
# unless build/version/version.txt exists (its release tooling generates it;
# the module zip on the proxy does not carry it). We copy the exact proxy
# download, add that one file with the exact version, and build from it.
#
# Usage: scripts/ferretdb.sh build   -> prints the binary path on stdout
set -euo pipefail

FERRETDB_VERSION="v1.24.2"
CACHE_DIR="${OUTBOX_RELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
ROOT="$CACHE_DIR/ferretdb-$FERRETDB_VERSION"
BIN="$ROOT/bin/ferretdb"

build() {
  if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; return 0; fi
  command -v go >/dev/null || { echo "ferretdb: the Go toolchain is not installed; it is needed to build FerretDB $FERRETDB_VERSION" >&2; exit 1; }
  mkdir -p "$ROOT/module" "$ROOT/bin"
  (
    cd "$ROOT/module"
    [[ -f go.mod ]] || go mod init outbox-relay/ferretdb-build >&2
    GOFLAGS=-mod=mod go get -tool "github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION" >&2
    src_dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
    rm -rf "$ROOT/src" && cp -r "$src_dir" "$ROOT/src" && chmod -R u+w "$ROOT/src"
    echo "$FERRETDB_VERSION" > "$ROOT/src/build/version/version.txt"
    echo "outbox-relay" > "$ROOT/src/build/version/package.txt"
    go mod edit -replace "github.com/FerretDB/FerretDB=../src"
    GOFLAGS=-mod=mod GOBIN="$ROOT/bin" go install -buildvcs=false github.com/FerretDB/FerretDB/cmd/ferretdb >&2
  )
  "$BIN" --version >&2
  echo "$BIN"
}

case "${1:-build}" in
  build) build ;;
  *) echo "usage: $0 build" >&2; exit 2 ;;
esac
