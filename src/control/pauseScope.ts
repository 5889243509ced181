/**
 * What a pause covers: the whole fleet ('*') or one aggregate type. The type
 * pattern is the writer's (outbox/enqueue.ts AGGREGATE_TYPE_PATTERN), repeated
 * here so the relay does not load the writer's module and what it brings
 * (tracing capture, metadata validation); a unit test keeps the two equal.
 */
export const FLEET_SCOPE = '*';
export const PAUSE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,47}$/;

export function scopeOf(type: string | undefined): string {
  return type ?? FLEET_SCOPE;
}

export interface PauseEntry {
  scope: string;
  reason: string;
  pausedBy: string;
  pausedAt: Date;
}

/** What a relay honours: everything, or some aggregate types. */
export interface PauseState {
  all: boolean;
  types: string[];
  entries: PauseEntry[];
}

export const NOT_PAUSED: PauseState = Object.freeze({ all: false, types: [], entries: [] }) as PauseState;

export function pauseStateOf(entries: PauseEntry[]): PauseState {
  return {
    all: entries.some((e) => e.scope === FLEET_SCOPE),
    types: entries.filter((e) => e.scope !== FLEET_SCOPE).map((e) => e.scope).sort(),
    entries,
  };
}

/** Same pauses (for "did anything change since the last heartbeat"). */
export function samePause(a: PauseState, b: PauseState): boolean {
  return a.all === b.all && a.types.join(',') === b.types.join(',');
}
