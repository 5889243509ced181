# The relay as a sidecar: `docker build -t outbox-relay .`
# Two stages: `build` compiles the TypeScript sources into dist/ (the same
# `npm run build` as the npm package); `runtime` holds dist/, the migrations
# and the production dependencies only, and runs as the unprivileged `node` user.
# test/e2e/consumer.e2e.test.ts checks that every path copied here exists
# after `npm run build` and that the entrypoint ships in the package.
#
# BASE_IMAGE: any image with Node 24, npm and an unprivileged `node` user.
# Without a registry, scripts/imageBase.sh builds one from Debian packages and
# the npm registry (`npm run image:check` does; docs/container-image.md).
ARG BASE_IMAGE=docker.io/library/node:24-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
RUN npm run build

FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Set after the npm steps: npm itself does not fit in this heap cap (`npm ci`
# ran out of heap under it in the first real build, 2026-12-05).
# The relay's live heap is small (about 30 MiB through a 100,000-event drain)
# but V8 lets its old generation fill with a drain's garbage before it
# collects: a hard cap of 96 MiB keeps the peak down (100,000 drain, side by
# side: 130 → 112 MiB with MongoDB, 163–166 → 110 MiB with the null sink;
# bench/results/memory-2026-11-27T20-29-23-088Z.json), safe because a batch
# is bounded by bytes (OUTBOX_RELAY_BATCH_MAX_BYTES, 2 MiB): 1,000 events of
# ~200 KB drained (peak 126 MiB), and ran out of heap without that bound.
# Semi-spaces of 4 MiB (Node's default 16) keep scavenges and promotions, and
# so the cap's CPU cost, low. Raise the cap with OUTBOX_RELAY_CONCURRENCY or
# OUTBOX_RELAY_BATCH_MAX_BYTES. `npm run bench` runs its relays with this same
# setting (bench/support/relayProcesses.ts keeps the two in step; a test checks).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=96"

COPY drizzle/ ./drizzle/
COPY --from=build /app/dist/ ./dist/

# The image's unprivileged user; the app only reads /app.
USER node

# /metrics, /healthz, /readyz. The relay binds 127.0.0.1 unless
# OUTBOX_RELAY_OPS_HOST says otherwise (docker-compose.yml sets 0.0.0.0 and
# publishes the port on the host's loopback only).
EXPOSE 9464

# Liveness through the ops endpoint, reached on loopback inside the container
# (works for OUTBOX_RELAY_OPS_HOST 127.0.0.1 or 0.0.0.0; not with OPS_PORT=off).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OUTBOX_RELAY_OPS_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run"]
