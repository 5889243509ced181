#!/usr/bin/env bash
# npm run deploy:check — the Kubernetes deployment files, checked without a cluster:
#  1. the chart's appVersion (the image's default tag) equals package.json's version;
#  2. `helm lint --strict` and `helm template` for each documented variant
#     (deploy/helm/outbox-relay/ci/*-values.yaml); the bare chart must refuse
#     to render without credentials, and values.schema.json must refuse a
#     misspelt key and a wrong type;
#  3. every rendered manifest, and deploy/examples/*.yaml, decoded STRICTLY into
#     the real Go API types (k8s.io/api, KEDA, prometheus-operator) by
#     tools/manifestcheck: unknown fields and wrong types fail; the rendered
#     PrometheusRule's groups must equal ops/prometheus-alerts.yml's.
# Helm (from the Go module proxy) and the checker are built once into the cache
# folder FerretDB uses ($OUTBOX_RELAY_CACHE), keyed by version / source hash.
#
# Usage: scripts/deployCheck.sh            run the checks
#        scripts/deployCheck.sh tools      build (or reuse) both; print "HELM\nCHECKER"
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

HELM_MODULE="helm.sh/helm/v4"
HELM_VERSION="v4.3.2"
CACHE_DIR="${OUTBOX_RELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
HELM="$CACHE_DIR/helm-$HELM_VERSION/bin/helm"
CHART=deploy/helm/outbox-relay

build_helm() {
  if [[ -x "$HELM" ]] && "$HELM" version --short >/dev/null 2>&1; then return 0; fi
  command -v go >/dev/null || { echo "deploy:check: the Go toolchain is needed to build Helm $HELM_VERSION" >&2; exit 1; }
  mkdir -p "$CACHE_DIR/helm-$HELM_VERSION"
  # Outside any module, so the repo's files play no part in the build.
  (cd "$CACHE_DIR/helm-$HELM_VERSION" && GOFLAGS= GOBIN="$CACHE_DIR/helm-$HELM_VERSION/bin" go install "$HELM_MODULE/cmd/helm@$HELM_VERSION" >&2)
  "$HELM" version --short >&2
}

checker_path() {
  local key
  key="$(cat tools/manifestcheck/go.mod tools/manifestcheck/go.sum tools/manifestcheck/*.go | sha256sum | cut -c1-16)"
  echo "$CACHE_DIR/manifestcheck-$key/manifestcheck"
}

build_checker() {
  local bin; bin="$(checker_path)"
  if [[ -x "$bin" ]]; then return 0; fi
  # Older builds (other source hashes) are of no further use.
  find "$CACHE_DIR" -maxdepth 1 -name 'manifestcheck-*' ! -path "$(dirname "$bin")" -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$(dirname "$bin")"
  (cd tools/manifestcheck && GOFLAGS=-mod=readonly go build -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
}

if [[ "${1:-}" == "tools" ]]; then
  build_helm; build_checker
  echo "$HELM"; checker_path
  exit 0
fi

started=$SECONDS
build_helm
build_checker
CHECKER="$(checker_path)"

app_version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")"
pkg_version="$(node -p 'require("./package.json").version')"
if [[ "$app_version" != "$pkg_version" ]]; then
  echo "deploy:check: $CHART/Chart.yaml appVersion $app_version (the image's default tag) differs from package.json version $pkg_version" >&2
  exit 1
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Without credentials the chart must refuse, with a message saying what to set.
if "$HELM" template r "$CHART" >"$out/bare.yaml" 2>"$out/bare.err"; then
  echo "deploy:check: the chart rendered without secrets.databaseUrl / existingSecret; it must refuse" >&2
  exit 1
fi
grep -q "set secrets.databaseUrl" "$out/bare.err" || { echo "deploy:check: unexpected refusal:" >&2; cat "$out/bare.err" >&2; exit 1; }

# values.schema.json: a misspelt key or a wrong type is refused by name.
if "$HELM" template r "$CHART" -f "$CHART/ci/default-values.yaml" --set kedaa.enabled=true --set replicaCount=two >/dev/null 2>"$out/schema.err" \
  || ! grep -q "additional properties 'kedaa' not allowed" "$out/schema.err" || ! grep -q "/replicaCount': got string, want integer" "$out/schema.err"; then
  echo "deploy:check: the values schema did not refuse a misspelt key and a wrong type by name:" >&2; cat "$out/schema.err" >&2; exit 1
fi

rendered=()
for values in "$CHART"/ci/*-values.yaml; do
  name="$(basename "$values" .yaml)"
  "$HELM" lint --strict "$CHART" -f "$values" >"$out/$name.lint" 2>&1 || { cat "$out/$name.lint" >&2; echo "deploy:check: helm lint failed for $values" >&2; exit 1; }
  "$HELM" template outbox-relay "$CHART" -f "$values" >"$out/$name.yaml"
  rendered+=("$out/$name.yaml")
done
# The ci values' credentials appear nowhere in clear (only base64 in Secret data).
for clear in test-password test-ops-token-0123456789 alice-token-0123456789; do
  if grep -l -F -- "$clear" "${rendered[@]}" >&2; then echo "deploy:check: a credential ($clear) is rendered in clear" >&2; exit 1; fi
done
# The image the default values deploy is the package's own version.
grep -q "image: outbox-relay:$pkg_version\$" "$out/default-values.yaml" || { echo "deploy:check: the default values do not deploy image tag $pkg_version (package.json); leave image.tag empty" >&2; exit 1; }
"$CHECKER" -alerts ops/prometheus-alerts.yml "${rendered[@]}" deploy/examples/*.yaml
grep -q "kind: PrometheusRule" "${rendered[@]}" || { echo "deploy:check: no variant renders the PrometheusRule, so its sync with ops/ went unchecked" >&2; exit 1; }
echo "deploy:check: chart $app_version, ${#rendered[@]} variants + examples checked in $((SECONDS - started)) s"
