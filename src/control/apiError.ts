import { OutboxRelayError, type ErrorCode } from '../errors.ts';

/** An HTTP API answer other than success: a status, a stable code, a message. */
export class ApiError extends OutboxRelayError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: ErrorCode, message: string, options: { details?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(code, message, options.details ? { details: options.details } : {});
    this.status = status;
    this.headers = Object.freeze({ ...options.headers });
  }
}

/** The JSON body every error answer has: `{ "error": { "code", "message", … } }`. */
export function errorBody(error: ApiError): string {
  return JSON.stringify({ error: { code: error.code, message: error.message, ...error.details } });
}
