/**
 * The chaos writer: postings with transaction and operation metadata at a
 * steady rate, plus metadata updates (transaction and operation) on recent
 * entities, so versions > 1 race through the relays too. Its own pool, whose
 * application_name does not match the relays' (the PG fault only hits relays).
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/client.ts';
import { ConflictError } from '../../src/errors.ts';
import { createBalance } from '../../src/ledger/createBalance.ts';
import { postTransaction } from '../../src/ledger/postTransaction.ts';
import { updateOperationMetadata, updateTransactionMetadata } from '../../src/ledger/updateMetadata.ts';

const FUNDING = 'world';
const ASSET = 'EUR';

export interface WriterStats {
  postings: number;
  metadataUpdates: number;
  errors: number;
  lastError?: string;
}

export interface ChaosWriter {
  readonly stats: WriterStats;
  /** Post `count` postings as fast as `concurrency` allows; resolves when all are done. */
  burst(count: number, concurrency?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function prepareAccounts(db: Db, customers: number): Promise<string[]> {
  const accounts = Array.from({ length: customers }, (_, i) => `chaos:customer:${i}`);
  for (const [account, allowNegative] of [[FUNDING, true] as const, ...accounts.map((a) => [a, false] as const)]) {
    try {
      await createBalance(db, { account, asset: ASSET, allowNegative });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  return accounts;
}

export function startWriter(db: Db, options: { ratePerSecond: number; accounts: string[]; concurrency: number; updateShare: number }): ChaosWriter {
  const stats: WriterStats = { postings: 0, metadataUpdates: 0, errors: 0 };
  const recentTransactions: string[] = [];
  const recentOperations: string[] = [];
  let stopped = false;
  let credit = 0;
  let inFlight = 0;
  const running = new Set<Promise<void>>();

  const track = (work: Promise<void>) => {
    const p = work.catch((error: unknown) => {
      stats.errors++;
      stats.lastError = error instanceof Error ? error.message : String(error);
    });
    running.add(p);
    void p.finally(() => running.delete(p));
    return p;
  };

  const postOne = async (): Promise<void> => {
    const account = options.accounts[Math.floor(Math.random() * options.accounts.length)] as string;
    const amount = BigInt(1 + Math.floor(Math.random() * 10_000));
    const orderId = randomUUID();
    const result = await postTransaction(db, {
      idempotencyKey: `chaos:${orderId}`,
      metadata: { orderId, step: 'posted', n: stats.postings, tags: ['chaos'] },
      entries: [
        { account: FUNDING, asset: ASSET, direction: 'debit', amount, metadata: { memo: 'funding', orderId } },
        { account, asset: ASSET, direction: 'credit', amount, metadata: { memo: `credit ${account}`, orderId } },
      ],
    });
    stats.postings++;
    recentTransactions.push(result.transactionId);
    recentOperations.push(...result.operationIds);
    if (recentTransactions.length > 300) recentTransactions.splice(0, 100);
    if (recentOperations.length > 600) recentOperations.splice(0, 200);
  };

  const updateOne = async (): Promise<void> => {
    const useOperation = Math.random() < 0.4 && recentOperations.length > 0;
    const pool = useOperation ? recentOperations : recentTransactions;
    const id = pool[Math.floor(Math.random() * pool.length)];
    if (!id) return;
    const metadata = { step: 'updated', at: Date.now(), nonce: randomUUID() };
    if (useOperation) await updateOperationMetadata(db, id, metadata);
    else await updateTransactionMetadata(db, id, metadata);
    stats.metadataUpdates++;
  };

  const tick = setInterval(() => {
    if (stopped) return;
    credit = Math.min(credit + options.ratePerSecond / 10, options.ratePerSecond);
    while (credit >= 1 && inFlight < options.concurrency) {
      credit -= 1;
      inFlight++;
      const work = Math.random() < options.updateShare ? updateOne() : postOne();
      void track(work).finally(() => inFlight--);
    }
  }, 100);

  return {
    stats,
    async burst(count, concurrency = 8) {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < count) {
            next++;
            await track(postOne());
          }
        }),
      );
    },
    async stop() {
      stopped = true;
      clearInterval(tick);
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
