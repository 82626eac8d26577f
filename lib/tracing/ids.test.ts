/**
 * Trace and span ids: their form from the very first one a process makes, how they are
 * drawn from the CSPRNG, and that an all-zero id (invalid in B3 and W3C Trace Context)
 * never leaves, even when the random bytes are all zero.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { newSpanId, newTraceId } from './ids.ts';

const SPAN_ID = /^[0-9a-f]{16}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;

/** Counts the CSPRNG draws while it runs; `fill` may replace what a draw returns. */
function watchDraws(fill?: (bytes: Uint8Array, draw: number) => boolean) {
  const original = crypto.getRandomValues.bind(crypto);
  let draws = 0;
  const watched = mock.method(crypto, 'getRandomValues', (array: Uint8Array<ArrayBuffer>) => {
    draws += 1;
    if (fill && fill(array, draws)) return array;
    return original(array);
  });
  return { draws: () => draws, restore: () => watched.mock.restore() };
}

/** Makes ids with `make` until one comes from a fresh draw; returns the ids made, the last from that draw. */
function untilDrawn(make: () => string, watch: { draws: () => number }): string[] {
  const before = watch.draws();
  const ids: string[] = [];
  // A pool holds at most 256 ids: one more than that must have drawn.
  for (let i = 0; i <= 256 && watch.draws() === before; i++) ids.push(make());
  assert.ok(watch.draws() > before, 'a draw within 257 ids');
  return ids;
}

describe('ids', () => {
  // First in this file, whose process has made no id before: the pool starts empty.
  it('are lowercase hex of 16 (span) and 32 (trace) characters from the first one on', () => {
    assert.match(newSpanId(), SPAN_ID);
    assert.match(newTraceId(), TRACE_ID);
    const spans = Array.from({ length: 1000 }, newSpanId);
    const traces = Array.from({ length: 1000 }, newTraceId);
    for (const id of spans) assert.match(id, SPAN_ID);
    for (const id of traces) assert.match(id, TRACE_ID);
    assert.equal(new Set(spans).size, spans.length, 'no span id twice');
    assert.equal(new Set(traces).size, traces.length, 'no trace id twice');
  });

  it('draws 2 KiB from the CSPRNG at a time: 256 span ids or 128 trace ids per draw', () => {
    const watch = watchDraws();
    try {
      untilDrawn(newSpanId, watch); // the first id of a fresh pool
      for (let i = 1; i < 256; i++) newSpanId();
      assert.equal(watch.draws(), 1, '256 span ids from one draw');
      newSpanId();
      assert.equal(watch.draws(), 2, 'the 257th draws again');

      untilDrawn(newTraceId, watch);
      for (let i = 1; i < 128; i++) newTraceId();
      assert.equal(watch.draws(), 3, '128 trace ids from one draw');
      newTraceId();
      assert.equal(watch.draws(), 4, 'the 129th draws again');
    } finally {
      watch.restore();
    }
  });

  for (const [kind, make, form, zero] of [
    ['span', newSpanId, SPAN_ID, '0'.repeat(16)],
    ['trace', newTraceId, TRACE_ID, '0'.repeat(32)],
  ] as const) {
    it(`never makes an all-zero ${kind} id: a draw of zero bytes is passed over`, () => {
      // The next draw is all zeros, the ones after it random again.
      const watch = watchDraws((bytes, draw) => draw === 1 && (bytes.fill(0), true));
      try {
        const ids = untilDrawn(make, watch);
        assert.equal(watch.draws(), 2, 'the zeros were passed over to the next draw');
        const last = ids.at(-1)!;
        assert.notEqual(last, zero);
        assert.match(last, form);
      } finally {
        watch.restore();
      }
    });
  }
});
