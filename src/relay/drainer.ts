import { classifyPgError } from '../db/classifyPgError.ts';
import { NOT_PAUSED, samePause, type PauseState } from '../control/pauseScope.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { claimBatch, type ClaimedBatch } from '../outbox/claimBatch.ts';
import { releaseClaims } from '../outbox/releaseClaims.ts';
import { setRelayWaiting } from '../outbox/wakeupFlag.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';
import { BatchTrace, type RelayTracing } from '../tracing/relaySpans.ts';
import { applyBatch, recordBatch, recordedEvent, type AppliedBatch, type DeliverSettings, type RecordedEvent } from './deliverBatch.ts';
import { keepLease } from './leaseKeeper.ts';
import type { WakeReason } from './wakeSource.ts';

export interface DrainerSettings extends DeliverSettings {
  batchSize: number;
  /** Bytes of content one batch may hold (claimBatch's and resolveThinEvents' bound); default: none. */
  batchMaxBytes?: number;
  concurrency: number;
  leaseMs: number;
  pollIntervalMs: number;
  /** Count "missed notifications" only when notifications are expected at all. */
  expectNotifications: boolean;
}

export interface DrainerDeps {
  db: SqlDb;
  sink: MetadataSink;
  metrics: RelayMetrics;
  logger: Logger;
  /** Present only when tracing is on: without it no span code runs. */
  tracing?: RelayTracing;
  /** Shared by the tenants of a multi-tenant relay: a turn per batch, resolved to a release function. */
  gate?: { acquire(): Promise<() => void> };
}

/** A claimed batch in a worker's hands: its lease is kept alive until it is recorded or given back. */
interface HeldBatch {
  events: ClaimedBatch;
  /** More work than one worker takes: the next batch is claimed ahead. */
  full: boolean;
  lease: { stop(): void };
  trace?: BatchTrace;
}

type Claim = HeldBatch | 'empty' | 'failed';

/** A batch the sink has answered, while it is recorded: its events without their payloads. */
type RecordingBatch = Omit<HeldBatch, 'events' | 'full'> & { events: readonly RecordedEvent[] };

export interface DrainStats {
  delivered: number;
  lastDeliveredAt?: Date;
}

/**
 * Claims and delivers batches while there is work. One drain at a time per
 * relay, with `concurrency` workers inside it; a wake-up that arrives during a
 * drain makes it go round once more instead of starting a second one. After
 * any error the drainer pauses (exponential backoff) and waits for the next
 * wake-up: it never hot-loops.
 */
export class Drainer {
  private draining: Promise<void> | undefined;
  private again = false;
  private pausedUntil = 0;
  private errorStreak = 0;
  private disposed = false;
  /**
   * What we last told writers through outbox_wakeup. Starts unknown: a relay
   * that died busy may have left the flag at "busy", so the first drain to run
   * out of work writes "waiting" for sure.
   */
  private toldWriters: 'unknown' | 'busy' | 'waiting' = 'unknown';
  private resumeTimer: NodeJS.Timeout | undefined;
  /** The operator's pauses (relay_pause), as the last heartbeat read them. */
  private operatorPause: PauseState = NOT_PAUSED;
  private readonly stats: DrainStats = { delivered: 0 };
  private readonly deps: DrainerDeps;
  private readonly settings: DrainerSettings;
  private readonly signal: AbortSignal;

  constructor(deps: DrainerDeps, settings: DrainerSettings, signal: AbortSignal) {
    this.deps = deps;
    this.settings = settings;
    this.signal = signal;
  }

  /** Take (and reset) what was delivered since the last call: feeds the heartbeat. */
  takeStats(): DrainStats {
    const taken = { ...this.stats };
    this.stats.delivered = 0;
    delete this.stats.lastDeliveredAt;
    return taken;
  }

  /** true while the last interaction with the sink and Postgres went well. */
  healthy(): boolean {
    return this.errorStreak === 0;
  }

  /**
   * No new claims and no scheduled resumes (stop() calls it first). The batch
   * in hand still finishes: the abort signal, which cancels the sink's
   * retries, is given only when the shutdown timeout runs out.
   */
  dispose(): void {
    this.disposed = true;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }

  private stopped(): boolean {
    return this.disposed || this.signal.aborted;
  }

  /**
   * Honour the operator's pauses from now on: a fleet pause stops claiming,
   * a paused aggregate type is left out of claims. The batch in hand
   * finishes. Lifting a pause drains at once.
   */
  setPaused(state: PauseState): void {
    const before = this.operatorPause;
    this.operatorPause = state;
    if (samePause(before, state)) return;
    const lifted = (before.all && !state.all) || before.types.some((t) => !state.types.includes(t));
    if (lifted) this.wake('manual');
  }

  paused(): PauseState {
    return this.operatorPause;
  }

  /** The drain in progress, if any (stop() waits on it). */
  current(): Promise<void> | undefined {
    return this.draining;
  }

  wake(reason: WakeReason): void {
    if (this.stopped()) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    if (Date.now() < this.pausedUntil || this.operatorPause.all) return;
    this.draining = this.drain(reason).finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(firstReason: WakeReason): Promise<void> {
    let reason: WakeReason = firstReason;
    for (;;) {
      this.again = false;
      await this.runWorkers(reason);
      reason = 'manual';
      if (this.stopped() || Date.now() < this.pausedUntil) return;
      if (this.again) continue;
      if (this.toldWriters === 'waiting' || !this.settings.expectNotifications) return;
      // Going idle: ask writers to notify again, then claim once more, for a
      // writer that read "busy" and committed after our last empty claim.
      await this.tellWriters(true);
      const caughtUp = await this.runWorkers('manual');
      if (caughtUp === 0 && !this.again) return;
    }
  }

  /**
   * Run `concurrency` workers until each finds no work; returns how many events
   * they claimed. One worker claims first and the others join once it claimed
   * a full batch: a wake-up that finds a partial batch or nothing (every poll of
   * an idle relay, a notification of a few events) is one claim on one
   * connection, not `concurrency` claims at once, which kept that many pool
   * connections open between polls (a hot idle tenant: 2.0 pool connections
   * with concurrency 2, now 1.0; test/int/runtime/hotIdleTenant.int.test.ts).
   * Starting them together bought nothing then: the others' claims came back
   * empty. With a backlog they join after one claim's round trip.
   */
  private async runWorkers(reason: WakeReason): Promise<number> {
    const { concurrency } = this.settings;
    let others: Promise<number[]> | undefined;
    const join = () => {
      others ??= Promise.all(Array.from({ length: concurrency - 1 }, () => this.work(reason)));
    };
    const first = await this.work(reason, join);
    return (await (others ?? Promise.resolve([]))).reduce((sum, n) => sum + n, first);
  }

  /**
   * Only a listening relay manages outbox_wakeup (a polling-only relay would
   * make writers notify nobody). "Busy" is written when a claim finds work,
   * not on every wake-up, so an idle relay's polls write nothing.
   */
  private async tellWriters(waiting: boolean): Promise<void> {
    if (!this.settings.expectNotifications) return;
    this.toldWriters = waiting ? 'waiting' : 'busy';
    try {
      await setRelayWaiting(this.deps.db, waiting);
    } catch (error) {
      // Advisory only: a wrong flag costs a needless NOTIFY or a poll interval of
      // latency. Unknown again, so the next drain to run out of work writes it.
      this.toldWriters = 'unknown';
      this.deps.logger.debug({ err: error, waiting }, 'could not update outbox_wakeup');
    }
  }

  /**
   * One worker: claim, apply, record, until a claim comes back short. The
   * three stages overlap: while a batch is at the sink, the next one is
   * claimed (when this one came back full, so there is more) and the one
   * before is recorded, so the sink, the slowest stage, waits on neither the
   * claim's nor the mark's round trip. A worker thus holds up to three
   * batches under lease (each kept alive like any other) but two batches'
   * payloads: the one being recorded keeps only its events' ids.
   *
   * Not under a fair gate (a multi-tenant relay): there one stage runs at a
   * time per turn, as the gate's bound on batches in flight (and their memory)
   * counts turns, and a batch claimed ahead would wait for a turn holding its
   * payloads; the other tenants' batches keep the sink busy meanwhile.
   *
   * `onFullBatch`: called when a claim comes back full (there is more work than one worker takes).
   */
  private async work(reason: WakeReason, onFullBatch?: () => void): Promise<number> {
    const { metrics } = this.deps;
    let first = true;
    let claimed = 0;
    /** The next batch, claimed while batch number `during` was at the sink. */
    let ahead: { claim: Promise<Claim>; during: number } | undefined;
    /** The record of the batch before, still running. */
    let recording: Promise<void> | undefined;
    /** Batches taken so far, the one in hand included. */
    let batchNo = 0;
    /** The last batch that gave events back (deferred past the byte bound): they are pending again only once it is recorded. */
    let lastGivingBack = Number.NEGATIVE_INFINITY;
    try {
      while (this.mayWork()) {
        // Across tenants, one batch at a time per turn (src/runtime/fairGate.ts); a single relay has no gate.
        const release = this.deps.gate ? await this.deps.gate.acquire() : undefined;
        let releasedByRecord = false;
        try {
          if (!this.mayWork()) return claimed;
          let batch: Claim;
          /**
           * Events were given back that this batch's claim could not see. A
           * claim ahead ran while batch `during` was at the sink, before the
           * records of that batch and the one before it, which may give events
           * back (deferred past the byte bound) after it: then coming back
           * short, or empty, does not mean the outbox ran dry.
           */
          let givenBackUnseen = false;
          if (ahead) {
            batch = await ahead.claim;
            givenBackUnseen = lastGivingBack >= ahead.during - 1;
            ahead = undefined;
          } else {
            // Not claimed ahead: let the record before finish first, so the
            // rows it gives back can be claimed.
            await recording;
            batch = await this.claim();
          }
          if (batch === 'empty' && givenBackUnseen) {
            // Nothing left but what those records give back: claim it once they are done.
            await recording;
            batch = await this.claim();
            givenBackUnseen = false;
          }
          if (batch === 'empty' || batch === 'failed') return claimed;
          batchNo++;
          const { events } = batch;
          if (batch.full) onFullBatch?.();
          claimed += events.length;
          metrics.claims.inc();
          if (this.toldWriters !== 'busy') await this.tellWriters(false);
          if (first && reason === 'poll' && this.settings.expectNotifications) {
            // An idle relay woken by the poll found work older than a poll
            // interval: a notification should have woken it and did not.
            const oldest = Math.min(...events.map((e) => e.createdAt.getTime()));
            if (Date.now() - oldest > this.settings.pollIntervalMs) metrics.missedNotifications.inc();
          }
          first = false;
          if (batch.full && this.pipelined && this.mayWork()) ahead = { claim: this.claim(), during: batchNo };
          const applied = await this.apply(batch);
          if (!applied) return claimed;
          // One record in flight per worker: the one before ends first.
          await recording;
          // The record keeps only what it needs of the events, not their payloads.
          recording = this.record({ events: batch.events.map(recordedEvent), lease: batch.lease, ...(batch.trace ? { trace: batch.trace } : {}) }, applied).finally(() => release?.());
          releasedByRecord = true;
          if (!this.pipelined) await recording;
          if (applied.deferredIds.size > 0) lastGivingBack = batchNo;
          // A short batch means the outbox ran dry, unless the byte bound cut it or
          // events were given back that its claim could not see (its own, or the
          // records' before it). The next claim is not ahead: it waits for the
          // record in flight, so the rows given back are claimable by then.
          if (!batch.full && applied.deferredIds.size === 0 && !givenBackUnseen) return claimed;
        } finally {
          if (!releasedByRecord) release?.();
        }
      }
      return claimed;
    } finally {
      // However the loop ended (dry, stopped, paused, an error), the record in
      // flight finishes, and a batch claimed ahead that will not be delivered
      // goes back to pending now rather than when its lease runs out.
      if (ahead) await this.giveBack(await ahead.claim);
      await recording;
    }
  }

  /** Claim ahead and record behind (work); off under a fair gate. */
  private get pipelined(): boolean {
    return this.deps.gate === undefined;
  }

  private mayWork(): boolean {
    return !this.stopped() && Date.now() >= this.pausedUntil && !this.operatorPause.all;
  }

  /** Claim a batch and start keeping its lease; a failed claim pauses the drainer. */
  private async claim(): Promise<Claim> {
    const { batchSize, batchMaxBytes, relayId, leaseMs } = this.settings;
    const startedAt = Date.now();
    let events: ClaimedBatch;
    try {
      events = await claimBatch(this.deps.db, { relayId, batchSize, leaseMs, skipTypes: this.operatorPause.types, ...(batchMaxBytes === undefined ? {} : { maxBytes: batchMaxBytes }) });
    } catch (error) {
      this.pause(error, 'claim failed');
      return 'failed';
    }
    if (events.length === 0) return 'empty';
    return {
      events,
      // More work than one worker takes: a claim that came back full. It may
      // hold more rows than batchSize (the entities' other versions ride
      // along), or fewer when the byte bound cut it.
      full: events.length >= batchSize || events.cutByBytes,
      lease: keepLease(this.deps, { relayId, ids: events.map((e) => e.id), leaseMs }),
      ...(this.deps.tracing ? { trace: new BatchTrace(this.deps.tracing, events, { startedAt, endedAt: Date.now() }) } : {}),
    };
  }

  /** Send a batch to the sink; undefined when it did not get there (the drainer pauses). */
  private async apply(batch: HeldBatch): Promise<AppliedBatch | undefined> {
    try {
      const outcome = await applyBatch(this.deps, this.settings, batch.events, this.signal, batch.trace);
      if (outcome.kind === 'applied') return outcome.applied;
      batch.lease.stop();
      batch.trace?.end({ classification: 'transient', error: outcome.error });
      this.pause(outcome.error, 'MongoDB unavailable; batch released');
    } catch (error) {
      // Rows stay claimed; their lease runs out and they are applied again
      // (fenced, so harmlessly) by whoever claims them next.
      batch.lease.stop();
      batch.trace?.end({ classification: 'unexpected', error });
      this.pause(error, 'delivering a batch failed');
    }
    return undefined;
  }

  /** Record what the sink answered; never rejects (a failure pauses the drainer). */
  private async record(batch: RecordingBatch, applied: AppliedBatch): Promise<void> {
    try {
      const outcome = await recordBatch(this.deps, this.settings, batch.events, applied, batch.trace);
      batch.trace?.end();
      this.errorStreak = 0;
      this.stats.delivered += outcome.delivered;
      if (outcome.lastDeliveredAt) this.stats.lastDeliveredAt = outcome.lastDeliveredAt;
    } catch (error) {
      batch.trace?.end({ classification: 'unexpected', error });
      this.pause(error, 'recording a delivered batch failed');
    } finally {
      batch.lease.stop();
    }
  }

  /** A batch claimed ahead that this worker will not deliver: back to pending at once. */
  private async giveBack(batch: Claim): Promise<void> {
    if (batch === 'empty' || batch === 'failed') return;
    batch.lease.stop();
    const why = new Error('claimed ahead, then given back undelivered: the relay stopped, paused or failed');
    batch.trace?.end({ classification: 'transient', error: why });
    try {
      await releaseClaims(this.deps.db, { relayId: this.settings.relayId, ids: batch.events.map((e) => e.id) });
    } catch (error) {
      // Their lease runs out instead.
      this.deps.logger.debug({ err: error }, 'could not give back a batch claimed ahead');
    }
  }

  private pause(error: unknown, message: string): void {
    this.errorStreak++;
    const delay = Math.min(30_000, 200 * 2 ** Math.min(this.errorStreak - 1, 8)) * (0.5 + Math.random() / 2);
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
    // Resume on our own when the pause ends, not only at the next poll.
    if (!this.resumeTimer) {
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = undefined;
        this.wake('manual');
      }, this.pausedUntil - Date.now() + 5);
      this.resumeTimer.unref();
    }
    // A restarting, failing-over or read-only PostgreSQL (classifyPgError): the
    // claims stay as they are (their lease runs out), no attempt is counted, and
    // pool.query already dropped the connection, so the next try reconnects.
    const postgresDown = classifyPgError(error) === 'reconnect';
    this.deps.logger.warn(
      { err: error, retryInMs: Math.round(delay), streak: this.errorStreak, ...(postgresDown ? { postgres: 'unavailable or read-only' } : {}) },
      postgresDown ? `${message}: PostgreSQL unavailable or read-only; backing off, then reconnecting` : message,
    );
  }
}
