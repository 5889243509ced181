import { describe, expect, it } from 'vitest';
import { MAX_TRACESTATE_LENGTH, parseTraceparent, validateTraceContext, validateTracestate } from '../../../src/tracing/traceContext.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('parseTraceparent', () => {
  it('parses a valid version 00 traceparent into ids and flags', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
    expect(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 0 });
  });

  it.each([
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['version 00 with a trailing field', `${VALID}-extra`],
    ['version 00 with a trailing character', `${VALID}x`],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
    ['non-hex flags', `00-${TRACE_ID}-${SPAN_ID}-0g`],
    ['wrong separators', `00_${TRACE_ID}_${SPAN_ID}_01`],
    ['empty string', ''],
    ['not a string', 42],
    ['oversized', `01-${TRACE_ID}-${SPAN_ID}-01-${'a'.repeat(300)}`],
  ])('rejects %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('parses a future version by its first four fields, ignoring what follows a dash', () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-brings`)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01`)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
  });

  it('rejects a future version whose fifth field is not dash-separated', () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01x`)).toBeNull();
  });
});

describe('validateTracestate', () => {
  it('keeps a valid list, dropping empty members', () => {
    expect(validateTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(validateTracestate('a=1, ,tenant@vendor=x')).toBe('a=1,tenant@vendor=x');
  });

  it.each([
    ['a member without =', 'rojo'],
    ['an upper-case key', 'Rojo=1'],
    ['a duplicate key', 'a=1,a=2'],
    ['a value with =', 'a=b=c'],
    ['more than 32 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['more than 512 characters', `a=${'x'.repeat(MAX_TRACESTATE_LENGTH)}`],
    ['not a string', { a: 1 }],
  ])('drops %s', (_name, value) => {
    expect(validateTracestate(value)).toBeUndefined();
  });
});

describe('validateTraceContext', () => {
  it('keeps a valid traceparent and tracestate', () => {
    expect(validateTraceContext({ traceparent: VALID, tracestate: 'a=1' })).toEqual({ traceparent: VALID, tracestate: 'a=1' });
  });

  it('drops only the tracestate when it is malformed or oversized', () => {
    expect(validateTraceContext({ traceparent: VALID, tracestate: 'not valid' })).toEqual({ traceparent: VALID });
    expect(validateTraceContext({ traceparent: VALID, tracestate: `a=${'x'.repeat(600)}` })).toEqual({ traceparent: VALID });
  });

  it('drops the whole context when the traceparent is malformed, never throwing', () => {
    expect(validateTraceContext({ traceparent: 'garbage', tracestate: 'a=1' })).toBeNull();
    expect(validateTraceContext(null)).toBeNull();
    expect(validateTraceContext('00-…')).toBeNull();
    expect(validateTraceContext([VALID])).toBeNull();
  });

  it('never stores anything but traceparent and tracestate (no baggage)', () => {
    expect(validateTraceContext({ traceparent: VALID, baggage: 'user=alice' })).toEqual({ traceparent: VALID });
  });
});
