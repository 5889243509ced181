/**
 * The web console in a real browser: Debian's Chromium driven by
 * playwright-core against a relay on loopback. Fails (never skips) when the
 * browser is missing: scripts/ensureChromium.sh installs it, and
 * scripts/test.sh (what .ci/run runs) calls that first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../src/relay/relay.ts';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../helpers/relayConfig.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { sleep, waitFor } from '../helpers/waitFor.ts';
import { insertDead } from '../int/control/controlFixtures.ts';

const CHROMIUM = process.env.OUTBOX_RELAY_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/console.png', import.meta.url));
const TOKEN = 'console-test-token-0123456789';
const HOSTILE = '<img src=x onerror="window.__xss=1">';

const t = useTestDatabases();
let relay: Relay;
let browser: Browser;
let page: Page;
const browserErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensureChromium.sh (scripts/test.sh does) — the console's browser tests need it`);
  relay = createRelay(testRelayConfig(t(), { opsPort: 0, opsTokens: `alice=${TOKEN}`, opsLagSampleMs: 1000 }));
  await relay.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') browserErrors.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (error) => browserErrors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => browserErrors.push(`request failed: ${request.url()}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

/** Wait until the element's whole text is `value` (locators: the page's CSP forbids evaluating strings). */
const shows = (selector: string, value: string) => page.locator(selector, { hasText: new RegExp(`^${value}$`) }).waitFor({ timeout: 20_000 });
const text = (selector: string) => page.locator(selector).textContent();
const statusOf = async (eventId: string) => (await t().pool.query<{ status: string }>('SELECT status FROM outbox WHERE event_id = $1', [eventId])).rows[0]?.status ?? 'delivered';

describe('the web console', () => {
  it('loads without console errors, shows the lag, requeues with a reason, pauses and resumes delivery, and shows hostile text as text', async () => {
    const hostile = await insertDead(t().pool, { lastError: HOSTILE, aggregateId: '<b>not bold</b>' });
    const poison = await insertDead(t().pool, { lastError: 'document exceeds 16 MiB' });
    await page.goto(`${relay.opsUrl}/`);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#use-token').click();
    await shows('#who', 'as alice');
    await shows('#dead', '2');
    // The figures come from the relay's newest lag sample, and the page says how old it is.
    expect(await text('#lag-age')).toMatch(/^sampled [\d.]+ (ms|s) ago$/);

    // Hostile strings are shown as text: no element made from them, no script run.
    const hostileRow = page.locator('#dead-events tr', { hasText: hostile });
    await expect.poll(() => hostileRow.locator('td.err').textContent()).toBe(HOSTILE);
    expect(await hostileRow.textContent()).toContain('transaction/<b>not bold</b> v1');
    expect(await page.locator('#dead-events img, #dead-events b').count()).toBe(0);
    expect(await page.evaluate(() => typeof (globalThis as { __xss?: unknown }).__xss)).toBe('undefined');

    // Pause the fleet from the console (the reason goes through a prompt).
    page.once('dialog', (dialog) => void dialog.accept('MongoDB maintenance'));
    await page.locator('#pause-all').click();
    await page.locator('#paused-banner').waitFor({ state: 'visible' });
    expect(await text('#paused-banner')).toBe('PAUSED fleet by alice: MongoDB maintenance');
    await waitFor(() => relay.paused().all, { message: 'relay honours the pause' });

    // Requeue one dead event with a reason: back to pending (held by the pause), audited.
    const eventIds = await insertEvents(t().pool, Array.from({ length: 7 }, (_, i) => ({ aggregateId: `console-${i}`, version: 1, metadata: { i } })));
    page.once('dialog', (dialog) => void dialog.accept('sink limit raised'));
    await page.locator('#dead-events tr', { hasText: poison }).getByRole('button', { name: 'Requeue' }).click();
    await waitFor(async () => (await statusOf(poison)) === 'pending', { message: 'requeued event pending' });
    expect(await statusOf(hostile)).toBe('dead');
    const audit = await t().pool.query('SELECT actor, action, target, reason FROM audit_log ORDER BY id');
    expect(audit.rows).toEqual([
      { actor: 'alice', action: 'pause', target: '*', reason: 'MongoDB maintenance' },
      { actor: 'alice', action: 'requeue', target: poison, reason: 'sink limit raised' },
    ]);

    // The lag the page shows is the outbox's: 7 new + 1 requeued, none delivered while paused.
    await shows('#pending', '8');
    await page.locator('#audit tr').nth(1).waitFor();
    expect(await page.locator('#audit tr').count()).toBe(2);
    await sleep(1500); // several 200 ms polls of a relay that must not claim
    expect((await t().pool.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'pending'`)).rows[0].n).toBe(8);
    expect((await t().pool.query('SELECT count(*)::int AS n FROM outbox_delivered')).rows[0].n).toBe(0);
    await page.locator('#chart polyline[points*=" "]').first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Resume: delivery restarts, the page's lag drains to zero.
    page.once('dialog', (dialog) => void dialog.accept('maintenance over'));
    await page.locator('#resume-all').click();
    await waitFor(async () => (await t().pool.query('SELECT count(*)::int AS n FROM outbox_delivered WHERE event_id = ANY($1::uuid[])', [[...eventIds, poison]])).rows[0].n === 8, {
      message: 'delivered after resume',
    });
    await shows('#pending', '0');
    expect(await page.locator('#paused-banner').isHidden()).toBe(true);

    // Run now: a reconcile run started from the page shows up as the last run.
    page.once('dialog', (dialog) => void dialog.accept(''));
    await page.locator('#run-reconcile').click();
    await page.locator('#reconcile', { hasText: 'finished' }).waitFor({ timeout: 60_000 });

    expect(browserErrors).toEqual([]);
  });
});
