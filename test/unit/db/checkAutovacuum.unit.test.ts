import { describe, expect, it } from 'vitest';
import { warnIfAutovacuumOff, type AutovacuumState } from '../../../src/db/checkAutovacuum.ts';
import type { SqlDb } from '../../../src/db/sqlDb.ts';
import { capturedLogger } from '../../helpers/capturedLogger.ts';

/** A handle whose one query answers `state` (or fails). */
function answering(state: AutovacuumState | Error): SqlDb {
  const query = async () => {
    if (state instanceof Error) throw state;
    return { rows: [state], rowCount: 1 };
  };
  return { poolMode: 'transaction', query, transaction: async () => { throw new Error('unused'); }, connection: async () => { throw new Error('unused'); } } as unknown as SqlDb;
}

async function warnings(state: AutovacuumState | Error): Promise<string[]> {
  const { logger, lines } = capturedLogger();
  await warnIfAutovacuumOff(answering(state), logger);
  return lines;
}

describe('the autovacuum warning at relay start', () => {
  it('says nothing when autovacuum runs on the outbox', async () => {
    expect(await warnings({ server: true, outbox: true })).toEqual([]);
  });

  it("names the server's setting when it is off", async () => {
    const [line, ...rest] = await warnings({ server: false, outbox: true });
    expect(rest).toEqual([]);
    expect(JSON.parse(line!).msg).toContain("the server's autovacuum or track_counts is off");
  });

  it("names the table's option when only that is off", async () => {
    const [line] = await warnings({ server: true, outbox: false });
    expect(JSON.parse(line!).msg).toContain('the table option autovacuum_enabled is false');
  });

  it('is advisory: a failed read warns of nothing and does not throw', async () => {
    expect(await warnings(new Error('permission denied'))).toEqual([]);
  });
});
