#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: Node, deps,
# services (env → Docker → local PostgreSQL + FerretDB), type check, then
# every test kind, with the deploy check (Helm) before them. `.ci/run` calls exactly this (through `npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "node $(node --version)" >&2
# Start the local services once up front (tests reuse them; FerretDB builds once).
if [[ -z "${DATABASE_URL:-}" && -z "${MONGO_URL:-}" ]]; then
  node scripts/services.ts >/dev/null
fi
# The console's browser tests need Debian's Chromium (idempotent; fails loudly).
bash scripts/ensureChromium.sh
npx tsc --noEmit
# Helm chart + examples: lint, render, strict decode into the API types (tools cached).
bash scripts/deployCheck.sh
npx vitest run "$@"
