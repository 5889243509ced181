/**
 * A writer that posts ledger transactions with metadata at a steady rate,
 * the way a payment service would. Used by `outbox-relay demo` (the README's
 * main command) and by the chaos run.
 */
import { randomUUID } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import type { DbLike } from '../db/toSqlDb.ts';
import { ConflictError } from '../errors.ts';
import { createBalance } from '../ledger/createBalance.ts';
import { postTransaction } from '../ledger/postTransaction.ts';
import { updateTransactionMetadata } from '../ledger/updateMetadata.ts';

export const DEMO_FUNDING_ACCOUNT = 'world';
export const DEMO_ASSET = 'EUR';

export interface DemoWriterStats {
  posted: number;
  metadataUpdates: number;
  errors: number;
  lastError?: string;
}

export interface DemoWriter {
  readonly stats: DemoWriterStats;
  /** Resolves when stopped. */
  done: Promise<void>;
  stop(): void;
}

export async function ensureDemoAccounts(db: DbLike, customers: number): Promise<string[]> {
  const accounts = Array.from({ length: customers }, (_, i) => `customer:${String(i + 1).padStart(3, '0')}`);
  for (const [account, allowNegative] of [[DEMO_FUNDING_ACCOUNT, true] as const, ...accounts.map((a) => [a, false] as const)]) {
    try {
      await createBalance(db, { account, asset: DEMO_ASSET, allowNegative });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error; // exists from an earlier run: fine
    }
  }
  return accounts;
}

/**
 * Posts `ratePerSecond` transactions per second (open loop, one tick every
 * 100 ms) until stopped: money moves from the funding account to customers,
 * every posting carries transaction and operation metadata, and every tenth
 * posting later gets a metadata update (version 2).
 */
export function startDemoWriter(db: DbLike, options: { ratePerSecond: number; accounts: string[]; concurrency?: number; tracer?: Tracer }): DemoWriter {
  const stats: DemoWriterStats = { posted: 0, metadataUpdates: 0, errors: 0 };
  let stopped = false;
  let credit = 0;
  let inFlight = 0;
  const maxInFlight = options.concurrency ?? 8;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const postUntraced = async (): Promise<void> => {
    const account = options.accounts[Math.floor(Math.random() * options.accounts.length)] ?? DEMO_FUNDING_ACCOUNT;
    const amount = BigInt(1 + Math.floor(Math.random() * 10_000));
    const orderId = randomUUID();
    const result = await postTransaction(db, {
      idempotencyKey: `demo:${orderId}`,
      description: `Top-up ${orderId.slice(0, 8)}`,
      metadata: { orderId, channel: 'demo', tags: ['top-up'], createdBy: 'demo-writer' },
      entries: [
        { account: DEMO_FUNDING_ACCOUNT, asset: DEMO_ASSET, direction: 'debit', amount, metadata: { memo: 'funding' } },
        { account, asset: DEMO_ASSET, direction: 'credit', amount, metadata: { memo: `credit to ${account}` } },
      ],
    });
    stats.posted++;
    if (stats.posted % 10 === 0) {
      await updateTransactionMetadata(db, result.transactionId, { orderId, channel: 'demo', tags: ['top-up', 'reviewed'], reviewedAt: new Date().toISOString() });
      stats.metadataUpdates++;
    }
  };

  // With a tracer, each posting runs inside a span, as a traced request handler's would.
  const tracer = options.tracer;
  const postOne = tracer
    ? () =>
        tracer.startActiveSpan('demo top-up', async (span) => {
          try {
            await postUntraced();
          } finally {
            span.end();
          }
        })
    : postUntraced;

  const tick = setInterval(() => {
    if (stopped) return;
    credit += options.ratePerSecond / 10;
    while (credit >= 1 && inFlight < maxInFlight) {
      credit -= 1;
      inFlight++;
      postOne()
        .catch((error: unknown) => {
          stats.errors++;
          stats.lastError = error instanceof Error ? error.message : String(error);
        })
        .finally(() => {
          inFlight--;
          if (stopped && inFlight === 0) resolveDone();
        });
    }
    credit = Math.min(credit, options.ratePerSecond); // don't build an unbounded debt when slow
  }, 100);

  return {
    stats,
    done,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tick);
      if (inFlight === 0) resolveDone();
    },
  };
}
