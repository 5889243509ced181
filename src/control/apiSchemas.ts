/**
 * The API's request bodies and query strings. Strict objects: an unknown key
 * is a 400, not silently ignored (a typo like `{"type_": …}` must not pause
 * the whole fleet).
 */
import { z } from 'zod';
import { CHECK_NAMES } from '../reconcile/reconcileTypes.ts';
import { UUID_PATTERN } from '../uuid.ts';
import { PAUSE_TYPE_PATTERN } from './pauseScope.ts';

export const MAX_REASON_LENGTH = 500;
export const MAX_REQUEUE_IDS = 1000;

const reason = z
  .string({ error: 'reason is required: say why, it goes to the audit log' })
  .trim()
  .min(1, 'reason is required: say why, it goes to the audit log')
  .max(MAX_REASON_LENGTH, `reason must be at most ${MAX_REASON_LENGTH} characters`);

const aggregateType = z.string().regex(PAUSE_TYPE_PATTERN, `type must be an aggregate type (${PAUSE_TYPE_PATTERN})`);

export const requeueBody = z.union(
  [
    z.strictObject({ ids: z.array(z.string().regex(UUID_PATTERN, 'each id must be an event id (UUID)')).min(1).max(MAX_REQUEUE_IDS), reason }),
    z.strictObject({ all: z.literal(true), reason }),
  ],
  { error: 'give either {"ids": [event ids], "reason"} or {"all": true, "reason"}' },
);

export const pauseBody = z.strictObject({ type: aggregateType.optional(), reason });

export const reconcileBody = z
  .strictObject({
    repair: z.boolean().optional(),
    checks: z.array(z.enum(CHECK_NAMES)).min(1).optional(),
    reason: reason.optional(),
  })
  .refine((b) => !b.repair || b.reason !== undefined, { message: 'a repair changes data: reason is required', path: ['reason'] });

export const limitQuery = (max: number, fallback: number) =>
  z.strictObject({ limit: z.coerce.number().int('limit must be a whole number').min(1).max(max).default(fallback) });

export type RequeueBody = z.infer<typeof requeueBody>;
export type PauseBody = z.infer<typeof pauseBody>;
export type ReconcileBody = z.infer<typeof reconcileBody>;
