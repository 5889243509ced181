#!/usr/bin/env bash
# `npm run chaos [-- --quick] [--seed N]`: the chaos run (bench/chaos/run.ts).
# Exit 0: every must-be-zero figure was zero; 1: one was not; 2: could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
eval "$(node scripts/services.ts)"
exec node bench/chaos/run.ts "$@"
