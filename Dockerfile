# The relay as a sidecar: `docker build -t outbox-relay .`
# Two stages: `build` compiles the TypeScript sources into dist/ (the same
# `npm run build` as the npm package); `runtime` holds dist/, the migrations
# and the production dependencies only, and runs as the unprivileged `node` user.
# test/e2e/consumer.e2e.test.ts checks that every path copied here exists
# after `npm run build` and that the entrypoint ships in the package.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production
# V8's young generation capped at 2 MiB semi-spaces (default 16): the relay's
# live heap is small (28–54 MiB through a 100,000-event drain) but V8 grows its
# young generation to the maximum under a drain's allocation rate. Measured on
# a 30,000-event drain: peak RSS 160 → 108 MiB; `npm run bench` runs its relays
# with this same setting and reports its cost on the null-sink drain
# (bench/support/relayProcesses.ts keeps the two in step; a test checks).
ENV NODE_OPTIONS="--max-semi-space-size=2"
WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

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
