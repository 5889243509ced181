/**
 * tools/manifestcheck is what makes `npm run deploy:check` strict: these
 * prove it fails on what a cluster's API server would reject (an unknown
 * field, a wrong type), on a credential in clear, and on alert rules that
 * drifted from ops/, and passes the valid form of each (so the failures are
 * the checker's, not a broken fixture's).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const validDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: relay
spec:
  replicas: 2
  selector:
    matchLabels: {app: relay}
  template:
    metadata:
      labels: {app: relay}
    spec:
      containers:
        - name: relay
          image: outbox-relay:0.1.0
          env:
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef: {name: relay, key: database-url}
`;

const validScaledObject = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: relay
spec:
  scaleTargetRef:
    name: relay
  minReplicaCount: 1
  maxReplicaCount: 4
  triggers:
    - type: postgresql
      metadata:
        query: SELECT pending_count FROM outbox_lag
        targetQueryValue: "60000"
      authenticationRef:
        name: relay
`;

let checker: string;
let dir: string;

function check(manifest: string, ...flags: string[]): { status: number | null; stderr: string } {
  const file = join(dir, `m-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, manifest);
  const result = spawnSync(checker, [...flags, file], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

beforeAll(() => {
  // Builds Helm and the checker on a cold cache (minutes), reuses them after.
  const lines = execFileSync('bash', ['scripts/deployCheck.sh', 'tools'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n');
  checker = lines[lines.length - 1] as string;
  dir = mkdtempSync(join(tmpdir(), 'manifestcheck-'));
}, 1_800_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('manifestcheck', () => {
  it('passes valid Deployment and ScaledObject manifests', () => {
    expect(check(`${validDeployment}---\n${validScaledObject}`)).toMatchObject({ status: 0 });
  });

  it('fails on an unknown field of a Kubernetes type', () => {
    const r = check(validDeployment.replace('image: outbox-relay:0.1.0', 'image: outbox-relay:0.1.0\n          imagePullPolice: Always'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Deployment: unknown field "spec.template.spec.containers\[0\].imagePullPolice"/);
  });

  it('fails on a wrong type', () => {
    const r = check(validDeployment.replace('replicas: 2', 'replicas: two'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Deployment: .*cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32/);
  });

  it("fails on an unknown field and a wrong type in KEDA's ScaledObject", () => {
    expect(check(validScaledObject.replace('minReplicaCount: 1', 'minReplicas: 1')).stderr).toMatch(/ScaledObject: unknown field "spec.minReplicas"/);
    const wrongType = check(validScaledObject.replace('maxReplicaCount: 4', 'maxReplicaCount: "four"'));
    expect(wrongType.status).toBe(1);
    expect(wrongType.stderr).toMatch(/ScaledObject: .*maxReplicaCount/);
  });

  it('fails on a key given twice (YAML would keep the last one silently)', () => {
    const r = check(validDeployment.replace('replicas: 2', 'replicas: 2\n  replicas: 3'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Deployment: yaml: unmarshal errors:\n.*key "replicas" already set in map/);
  });

  it('fails on a kind it has no type for, instead of skipping it', () => {
    const r = check('apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no API type known for apiVersion "example.com\/v1" kind "Widget"/);
  });

  it('fails on a credential given as a literal env value', () => {
    const r = check(validDeployment.replace(/valueFrom:\n\s+secretKeyRef: \{name: relay, key: database-url\}/, 'value: postgres://relay:pw@db/ledger'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/env DATABASE_URL has a literal value/);
  });

  it("fails when a PrometheusRule's groups drift from ops/prometheus-alerts.yml", () => {
    const alerts = readFileSync('ops/prometheus-alerts.yml', 'utf8');
    const rule = (groups: string) => `apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r}\nspec:\n${groups.split('\n').filter((l) => !l.startsWith('#')).map((l) => `  ${l}`).join('\n')}\n`;
    expect(check(rule(alerts), '-alerts', 'ops/prometheus-alerts.yml')).toMatchObject({ status: 0 });
    const drifted = check(rule(alerts.replace('> 60', '> 120')), '-alerts', 'ops/prometheus-alerts.yml');
    expect(drifted.status).toBe(1);
    expect(drifted.stderr).toMatch(/groups differ from ops\/prometheus-alerts.yml/);
  });
});
