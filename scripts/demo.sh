#!/usr/bin/env bash
# The main job on a fresh machine: Node, deps, services, migrations, then the
# relay with a demo writer. Extra arguments go to `outbox-relay demo`
# (e.g. --rate 50 --duration 30). Ctrl-C prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
eval "$(node scripts/services.ts)"
export DATABASE_URL MONGO_URL
exec node src/cli.ts demo "$@"
