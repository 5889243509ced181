#!/usr/bin/env bash
# Benchmarks: `npm run bench [-- --quick | --tiny]`. Node and deps via bootstrap,
# `npm run bench -- --medians [files…]` summarises several runs (bench/medians.ts);
# `npm run bench -- --tracing [--tiny]` measures tracing costs alone (bench/tracing.ts);
# `npm run bench -- --multi-tenant [--tiny]` the multi-tenant relay (bench/multiTenant.ts);
# `npm run bench -- --soak [--minutes 30] [--rate N]` relay RSS under a steady writer (bench/soak.ts);
# services via scripts/services.ts (env → Docker → local PostgreSQL + FerretDB),
# then the harness. Results in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [[ "${1:-}" == "--medians" ]]; then
  exec node bench/medians.ts "${@:2}"
fi
if [[ -z "${DATABASE_URL:-}" || -z "${MONGO_URL:-}" ]]; then
  eval "$(node scripts/services.ts)"
fi
# Relay processes run the built package, as deployed (bench/support/relayProcesses.ts).
npm run build --silent >/dev/null
export OUTBOX_RELAY_BENCH_DIST=1
if [[ "${1:-}" == "--soak" ]]; then
  exec node bench/soak.ts "${@:2}"
fi
# `npm run bench -- --memory [--events N] [--variants json]`: relay RSS at start, idle, peak and after a drain, variants side by side (bench/memory.ts).
if [[ "${1:-}" == "--memory" ]]; then
  exec node bench/memory.ts "${@:2}"
fi
if [[ "${1:-}" == "--multi-tenant" ]]; then
  exec node bench/multiTenant.ts "${@:2}"
fi
# `npm run bench -- --writer [--concurrency 8]`: the writer-overhead scenario alone (bench/writer.ts).
if [[ "${1:-}" == "--writer" ]]; then
  exec node bench/writer.ts "${@:2}"
fi
if [[ "${1:-}" == "--tracing" ]]; then
  exec node bench/tracing.ts "${@:2}"
fi
# `npm run bench -- --pgbouncer`: drain rate and claim latency through PgBouncer vs direct (bench/pgbouncer.ts).
if [[ "${1:-}" == "--pgbouncer" ]]; then
  exec node bench/pgbouncer.ts "${@:2}"
fi
exec node bench/run.ts "$@"
