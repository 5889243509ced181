#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: Node, deps,
# services (env → Docker → local PostgreSQL + FerretDB), type check, the
# deploy check (Helm), every test kind, then the compose check and the
# container image built and run. `.ci/run` calls exactly this (through `npm test`).
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
# docker-compose.yml loaded strictly by compose-go (checker cached: ~1 s).
npm run --silent compose:check
# The image built on a local Debian base and run against the services
# (cached: 15-30 s; with an empty cache ~5 min: base, npm ci; see
# docs/container-image.md).
bash scripts/ensureContainerTools.sh
OUTBOX_RELAY_IMAGE_CHECK_QUIET=1 npm run --silent image:check
