#!/usr/bin/env bash
# Benchmarks: `npm run bench [-- --quick | --tiny]`. Node and deps via bootstrap,
# services via scripts/services.ts (env → Docker → local PostgreSQL + FerretDB),
# then the harness. Results in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [[ -z "${DATABASE_URL:-}" || -z "${MONGO_URL:-}" ]]; then
  eval "$(node scripts/services.ts)"
fi
exec node bench/run.ts "$@"
