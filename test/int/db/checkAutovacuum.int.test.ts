import { describe, expect, it } from 'vitest';
import { readAutovacuum } from '../../../src/db/checkAutovacuum.ts';
import { createRelay } from '../../../src/relay/relay.ts';
import { capturedLogger } from '../../helpers/capturedLogger.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

describe('autovacuum on the outbox (real PostgreSQL)', () => {
  it("reads the server's setting and the outbox table's own option", async () => {
    const { rows: [settings] } = await t().pool.query<{ autovacuum: string; track_counts: string }>(`SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts`);
    const server = settings!.autovacuum === 'on' && settings!.track_counts === 'on';
    expect(await readAutovacuum(t().db)).toEqual({ server, outbox: true });
    await t().pool.query('ALTER TABLE outbox SET (autovacuum_enabled = false)');
    try {
      expect(await readAutovacuum(t().db)).toEqual({ server, outbox: false });
    } finally {
      await t().pool.query('ALTER TABLE outbox RESET (autovacuum_enabled)');
    }
    // The migration's own per-table settings are not autovacuum_enabled: still on.
    expect((await readAutovacuum(t().db)).outbox).toBe(true);
  });

  it('a relay started on an outbox autovacuum skips says so once, at start', async () => {
    await t().pool.query('ALTER TABLE outbox SET (autovacuum_enabled = false)');
    const { logger, lines } = capturedLogger();
    const relay = createRelay(testRelayConfig(t()), { logger });
    try {
      await relay.start();
      await relay.stop();
    } finally {
      await t().pool.query('ALTER TABLE outbox RESET (autovacuum_enabled)');
    }
    const warned = lines.map((l) => JSON.parse(l) as { msg: string; autovacuum?: unknown }).filter((l) => l.msg.startsWith('autovacuum does not run on the outbox'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.autovacuum).toMatchObject({ outbox: false });
  });
});
