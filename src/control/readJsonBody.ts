import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { ApiError } from './apiError.ts';

export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Read, parse and validate a JSON request body. Only `application/json`:
 * a browser form cannot send that without a CORS preflight, which this
 * server never grants. Everything wrong with the input is a 4xx with a code.
 */
export async function readJsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as Content-Type: application/json');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the body must be at most ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', 'the body is not valid JSON');
  }
  return validate(schema, value);
}

/** zod → 400 INVALID_REQUEST listing each problem with its path. */
export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new ApiError(400, 'INVALID_REQUEST', issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), { details: { issues } });
}
