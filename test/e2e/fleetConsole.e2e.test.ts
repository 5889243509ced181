/**
 * The console of `run --multi-tenant` in Debian's Chromium: two replicas,
 * three tenants (one unreachable, its driver error carrying markup). A scoped
 * token sees only its tenants; pause and resume of a tenant from the page;
 * hostile tenant ids and error texts shown as text.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLag } from '../../src/outbox/readLag.ts';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../src/runtime/multiTenantRelay.ts';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../helpers/relayConfig.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../helpers/testDatabases.ts';
import { withDatabase } from '../helpers/urls.ts';
import { sleep, waitFor } from '../helpers/waitFor.ts';

const CHROMIUM = process.env.OUTBOX_RELAY_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = 'root-console-token-0123456789';
const SCOPED = 'scoped-console-token-012345678';
// A database name with markup: the unreachable tenant's reason quotes it.
const HOSTILE_DB = '<img src=x onerror="window.__xss=1">';
const HOSTILE_ID = '<script>window.__xss=2</script>';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const control = useTestDatabases();
const tenants: Tenant[] = [];
const replicas: MultiTenantRelay[] = [];
let browser: Browser;
let page: Page;
const browserErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensureChromium.sh (scripts/test.sh does) — the console's browser tests need it`);
  tenants.push(...(await Promise.all([createTestDatabases(), createTestDatabases()])));
  for (const [id, t] of [['acme', tenants[0]], ['globex', tenants[1]]] as const) {
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ($1, $2, $3, $4)`, [id, t?.databaseUrl, t?.mongoUrl, t?.mongoDbName]);
  }
  await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ('broken', $1, $2, 'broken')`, [withDatabase(control().databaseUrl, HOSTILE_DB), control().mongoUrl]);
  for (const id of ['replica-a', 'replica-b']) {
    const r = createMultiTenantRelay(testRelayConfig(control(), { relayId: id, opsPort: 0, opsTokens: `root=${ROOT},scoped=${SCOPED}@acme`, opsRateLimit: 100_000, opsLagSampleMs: 1000 }));
    replicas.push(r);
  }
  await Promise.all(replicas.map((r) => r.start()));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('console', (msg) => {
    // The page reports a refused request in its status line; the browser also logs the 4xx.
    if ((msg.type() === 'error' || msg.type() === 'warning') && !/status of 40[34]/.test(msg.text())) browserErrors.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (error) => browserErrors.push(`page error: ${error.message}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(tenants.map((t) => t.drop()));
});

const login = async (base: string, token: string) => {
  await page.goto(`${base}/`);
  await page.locator('#token').fill(token);
  await page.locator('#use-token').click();
};
const xss = () => page.evaluate(() => (globalThis as { __xss?: unknown }).__xss);

describe('the multi-tenant console', () => {
  it('fleet overview: every tenant with its state and the unhealthy reason as text; pause and resume a tenant from the page; a tenant view with its panels', async () => {
    const acme = tenants[0] as Tenant;
    // Served from the replica that does not hold acme: what it shows comes from the control and tenant databases.
    await waitFor(async () => (await control().pool.query(`SELECT count(*)::int AS n FROM outbox_tenant WHERE lease_expires_at > now() AND health IS NOT NULL`)).rows[0].n === 3, { timeoutMs: 30_000 });
    const owner = (await control().pool.query(`SELECT owner FROM outbox_tenant WHERE id = 'acme'`)).rows[0].owner;
    const other = replicas.find((r) => r.id !== owner) as MultiTenantRelay;
    await login(other.opsUrl as string, ROOT);
    const rowOf = (id: string) => page.locator(`#tenants tr[data-tenant="${id}"]`);
    await rowOf('broken').locator('td.bad', { hasText: 'unhealthy' }).waitFor({ timeout: 20_000 });
    expect(await rowOf('broken').textContent()).toContain(HOSTILE_DB);
    expect(await page.locator('#tenants img').count()).toBe(0);
    await rowOf('acme').locator('td.good', { hasText: 'active' }).waitFor();
    await rowOf('globex').waitFor();
    // Most behind first: the unhealthy tenant before the two idle, active ones.
    expect(await page.locator('#tenants tr').first().getAttribute('data-tenant')).toBe('broken');

    // Pause acme from its row: the holder honours it, and the page shows it paused.
    page.once('dialog', (dialog) => void dialog.accept('acme incident'));
    await rowOf('acme').locator('button.pause-tenant').click();
    await rowOf('acme').locator('td', { hasText: 'paused by root: acme incident' }).waitFor({ timeout: 20_000 });
    await sleep(700);
    await insertEvents(acme.pool, Array.from({ length: 4 }, (_, n) => ({ aggregateId: `held-${n}`, version: 1, metadata: { n } })));
    await sleep(2000);
    expect((await readLag(acme.pool)).pendingCount).toBe(4);

    // The tenant view: today's panels, for acme.
    await rowOf('acme').locator('button.tenant-link').click();
    await page.locator('#tenant-name', { hasText: /^acme$/ }).waitFor();
    await page.locator('#pending', { hasText: /^4$/ }).waitFor({ timeout: 20_000 });
    expect(await page.locator('#paused-banner').textContent()).toBe('PAUSED fleet by root: acme incident');
    expect(await page.locator('#fleet-section').isHidden()).toBe(true);
    page.once('dialog', (dialog) => void dialog.accept('acme incident over'));
    await page.locator('#resume-all').click();
    await waitFor(async () => (await readLag(acme.pool)).pendingCount === 0, { timeoutMs: 20_000, message: 'acme drains after resume from the page' });
    await page.locator('#pending', { hasText: /^0$/ }).waitFor({ timeout: 20_000 });
    const audit = await acme.pool.query(`SELECT actor, action, target, reason, details->>'tenant' AS tenant FROM audit_log ORDER BY id`);
    expect(audit.rows).toEqual([
      { actor: 'root', action: 'pause', target: '*', reason: 'acme incident', tenant: 'acme' },
      { actor: 'root', action: 'resume', target: '*', reason: 'acme incident over', tenant: 'acme' },
    ]);

    // A hostile tenant id in the address: the answer (404) is shown as text.
    await page.goto(`${other.opsUrl}/#tenant=${encodeURIComponent(HOSTILE_ID)}`);
    await page.locator('#status', { hasText: 'UNKNOWN_TENANT' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('#status').textContent()).toContain(HOSTILE_ID);
    expect(await page.locator('#tenant-name').textContent()).toBe(HOSTILE_ID);
    expect(await xss()).toBeUndefined();
    expect(browserErrors).toEqual([]);
  });

  it('a scoped token sees only its tenants, and another tenant is refused (403) in the page', async () => {
    await page.goto('about:blank');
    await login(replicas[0]?.opsUrl as string, SCOPED);
    await page.locator('#who', { hasText: 'as scoped (tenants acme)' }).waitFor({ timeout: 20_000 });
    await page.locator('#tenants tr[data-tenant="acme"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#tenants tr').count()).toBe(1);
    await page.goto(`${replicas[0]?.opsUrl}/#tenant=globex`);
    await page.locator('#status', { hasText: 'TENANT_FORBIDDEN' }).waitFor({ timeout: 20_000 });
    expect(await xss()).toBeUndefined();
    expect(browserErrors).toEqual([]);
  });
});
