import { OutboxRelayError } from '../errors.ts';

/** The sink could not take the batch right now; retrying the whole batch may succeed (writes are fenced, so that is safe). */
export class SinkTransientError extends OutboxRelayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SINK_ERROR', message, { ...options, details: { transient: true } });
  }
}

/** Retrying cannot help and no event is at fault (client closed, not authorised): the batch is given back. */
export class SinkUnavailableError extends OutboxRelayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SINK_ERROR', message, { ...options, details: { transient: false } });
  }
}
