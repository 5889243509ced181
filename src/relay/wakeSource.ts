/**
 * Where wake-ups come from. Notifications are an optimisation: a missed one
 * costs latency, never correctness (the poll timer catches up). Kept behind
 * this small interface so pg-listen (last released 2020) can be swapped.
 */
export type WakeReason = 'notify' | 'connected' | 'poll' | 'manual';

export interface WakeSource {
  start(onWake: (reason: WakeReason) => void): Promise<void>;
  stop(): Promise<void>;
  /** true while the source can deliver wake-ups (for /readyz). */
  connected(): boolean;
}
