import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import { advanceSlots } from '../outbox/log/advanceSlots.ts';
import { forgetReplayed } from '../outbox/log/forgetReplayed.ts';
import { readWindowBatch, type LogEvent, type WindowBatch } from '../outbox/log/readWindowBatch.ts';
import { setAside, type EntityToPark, type RetryBudget } from '../outbox/log/setAside.ts';
import { acquireSlots, fairShare, releaseSlots, renewSlots } from '../outbox/log/slotLeases.ts';
import { positionAfter, type SlotPosition } from '../outbox/log/slotPosition.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';
import { resolveThinEvents } from './resolveThinEvents.ts';

export interface SlotDrainerSettings {
  /** This relay's id: the slots' owner. */
  owner: string;
  batchSize: number;
  /** Workers; each reads its own share of the held slots, so no two of them ever hold one entity. */
  concurrency: number;
  leaseMs: number;
  budget: RetryBudget;
}

export interface SlotDrainerDeps {
  db: SqlDb;
  sink: MetadataSink;
  logger: Logger;
  /** Aggregate types paused by an operator: their rows are set aside, replayed in order at resume. */
  pausedTypes?: () => readonly string[];
}

export interface DrainRound {
  delivered: number;
  setAside: number;
  /** Batches dropped because a slot was taken over while they were at the sink. */
  dropped: number;
}

/** An entity key, `type/id`. */
function entityOf(event: { aggregateType: string; aggregateId: string }): string {
  return `${event.aggregateType}/${event.aggregateId}`;
}

/**
 * The relay's side of the log: it holds a fair share of the slots under
 * leases, reads each slot's windows in order and moves the slot past what the
 * sink acknowledged, one fenced write per batch. Nothing is written per event
 * on the happy path. An entity lives in one slot and a slot in one worker of
 * one relay, so one entity is never in two batches at once; a batch is sent
 * only while its slots' leases have time left, and a slot taken over meanwhile
 * drops the batch (its new owner sends it again; the sink's fence absorbs it).
 */
export class SlotDrainer {
  private readonly held = new Map<number, SlotPosition>();
  /** Local time until which every held lease is surely live (renewal time + lease − margin). */
  private leaseValidUntil = 0;
  private rotation = 0;
  private readonly deps: SlotDrainerDeps;
  private readonly settings: SlotDrainerSettings;

  constructor(deps: SlotDrainerDeps, settings: SlotDrainerSettings) {
    this.deps = deps;
    this.settings = settings;
  }

  /** The slots held now, in slot order. */
  slots(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /**
   * Keep the leases: renew what is held (a slot missing was taken over), take
   * up to the fair share, give back extras (between batches only: the caller
   * runs this when no drain is in flight).
   */
  async rebalance(): Promise<void> {
    const { db } = this.deps;
    const { owner, leaseMs } = this.settings;
    const startedAt = Date.now();
    const kept = await renewSlots(db, { owner, slots: [...this.held.values()], leaseMs });
    for (const slot of [...this.held.keys()]) if (!kept.includes(slot)) this.held.delete(slot);
    for (const position of await acquireSlots(db, { owner, leaseMs })) this.held.set(position.slot, position);
    const share = await fairShare(db, { owner });
    if (this.held.size > share) {
      const extras = this.slots().slice(share).map((slot) => this.held.get(slot) as SlotPosition);
      await releaseSlots(db, { owner, slots: extras });
      for (const extra of extras) this.held.delete(extra.slot);
    }
    // A third of the lease as margin: a batch is not sent past it.
    this.leaseValidUntil = startedAt + Math.floor((leaseMs * 2) / 3);
  }

  /** Give every slot back (SIGTERM): the next owner resumes from the positions written. */
  async releaseAll(): Promise<void> {
    const slots = [...this.held.values()];
    this.held.clear();
    this.leaseValidUntil = 0;
    await releaseSlots(this.deps.db, { owner: this.settings.owner, slots });
  }

  /** Forget the slots without a word (a crash, for tests): their leases run out. */
  abandon(): void {
    this.held.clear();
    this.leaseValidUntil = 0;
  }

  /** Read and deliver until every worker's slots are drained; `signal` stops between batches. */
  async drain(signal?: AbortSignal): Promise<DrainRound> {
    const total: DrainRound = { delivered: 0, setAside: 0, dropped: 0 };
    const slots = this.slots();
    if (slots.length === 0) return total;
    // Rotate the start so a busy low slot never starves the others.
    this.rotation = (this.rotation + 1) % slots.length;
    const rotated = [...slots.slice(this.rotation), ...slots.slice(0, this.rotation)];
    const workers = Math.max(1, Math.min(this.settings.concurrency, rotated.length));
    const shares = Array.from({ length: workers }, (_, k) => rotated.filter((_, i) => i % workers === k));
    const rounds = await Promise.all(shares.map((share) => this.work(share, signal)));
    for (const round of rounds) {
      total.delivered += round.delivered;
      total.setAside += round.setAside;
      total.dropped += round.dropped;
    }
    return total;
  }

  private async work(share: number[], signal?: AbortSignal): Promise<DrainRound> {
    const round: DrainRound = { delivered: 0, setAside: 0, dropped: 0 };
    for (;;) {
      if (signal?.aborted) return round;
      const positions = share.flatMap((slot) => {
        const position = this.held.get(slot);
        return position ? [position] : [];
      });
      if (positions.length === 0) return round;
      const batch = await readWindowBatch(this.deps.db, { positions, limit: this.settings.batchSize, pausedTypes: this.deps.pausedTypes?.() ?? [] });
      if (batch.events.length === 0) return round;
      const outcome = await this.deliver(batch, signal);
      if (outcome === 'stop') return round;
      round.delivered += outcome.delivered;
      round.setAside += outcome.setAside;
      round.dropped += outcome.dropped;
      if (batch.events.length < this.settings.batchSize) return round;
    }
  }

  /** One batch: set aside what is parked, send the rest, park what failed, then move the slots. */
  private async deliver(batch: WindowBatch, signal?: AbortSignal): Promise<DrainRound | 'stop'> {
    const { db, sink } = this.deps;
    const paused = new Set(this.deps.pausedTypes?.() ?? []);
    const aside: LogEvent[] = batch.events.filter((e) => e.parked);
    const sendable = batch.events.filter((e) => !e.parked);
    const failing = new Map<string, string>();
    if (sendable.length > 0) {
      if (Date.now() >= this.leaseValidUntil || signal?.aborted) return 'stop';
      const { ready, unresolved } = await resolveThinEvents(db, sendable);
      const result = await sink.apply(ready, signal ? { signal } : {});
      // MongoDB unavailable: nothing moves; the same window is read again later.
      if (!result.ok) throw result.error;
      for (const event of sendable) {
        const outcome = result.outcomes.get(event.eventId);
        const error = outcome?.status === 'failed' ? outcome.error : outcome ? undefined : (unresolved.get(event.eventId) ?? 'the sink returned no outcome for this event');
        if (error !== undefined && !failing.has(entityOf(event))) failing.set(entityOf(event), error);
      }
    }
    // An entity that failed is set aside whole (its later rows in this batch too), so its versions replay in order.
    for (const event of sendable) if (failing.has(entityOf(event))) aside.push(event);
    if (aside.length > 0) {
      const entities = new Map<string, EntityToPark>();
      for (const event of aside.sort((a, b) => a.id - b.id)) {
        const key = entityOf(event);
        if (entities.has(key)) continue;
        const error = failing.get(key);
        entities.set(key, {
          aggregateType: event.aggregateType,
          aggregateId: event.aggregateId,
          slot: event.slot,
          reason: error === undefined && paused.has(event.aggregateType) ? 'paused' : 'failed',
          fromVersion: event.version,
          error: error ?? null,
          countsAttempt: error !== undefined,
        });
      }
      await setAside(db, { rows: aside.map((e) => ({ slot: e.slot, id: e.id })), entities: [...entities.values()], budget: this.settings.budget });
    }
    const recovered = new Map<string, LogEvent>();
    for (const event of sendable) if (event.replaying && !failing.has(entityOf(event))) recovered.set(entityOf(event), event);
    await forgetReplayed(db, [...recovered.values()]);
    const moves = [...batch.windows].flatMap(([slot, window]) => {
      const position = this.held.get(slot);
      if (!position) return [];
      const delivered = batch.events.filter((e) => e.slot === slot).length;
      return [{ position: positionAfter(position, window, window.lastId), delivered }];
    });
    const { advanced, lost } = await advanceSlots(db, { owner: this.settings.owner, moves });
    for (const move of moves) if (advanced.includes(move.position.slot)) this.held.set(move.position.slot, move.position);
    for (const slot of lost) this.held.delete(slot);
    if (lost.length > 0) this.deps.logger.warn({ slots: lost }, 'slots were taken over while their batch was at the sink; their new owner delivers it again');
    const lostSet = new Set(lost);
    const movedEvents = batch.events.filter((e) => !lostSet.has(e.slot));
    const asideIds = new Set(aside.map((e) => e.id));
    return {
      delivered: movedEvents.filter((e) => !asideIds.has(e.id)).length,
      setAside: movedEvents.filter((e) => asideIds.has(e.id)).length,
      dropped: lost.length > 0 ? 1 : 0,
    };
  }
}
