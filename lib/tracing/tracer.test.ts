import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createMemoryExporter } from './exporter.ts';
import { Tracing } from './tracer.ts';

function capture() {
  const exporter = createMemoryExporter();
  return { spans: exporter.spans, exporter };
}

const none = { kind: 'none' } as const;
const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');
const tick = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 3));

describe('Tracing', () => {
  it('records a server span with a child, 128-bit ids and JSON v2 fields', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter, ipv4: '10.0.0.7' });
    const server = tracing.continueSpan('get /x', none, { kind: 'SERVER', continuation: 'join' });
    const result = server.trace('work', (span) => {
      span.tag('n', 3);
      return 42;
    });
    server.annotate('something happened');
    server.finish();
    assert.equal(result, 42);
    assert.equal(spans.length, 2);
    const [work, root] = spans;
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.equal(root.kind, 'SERVER');
    assert.equal(root.name, 'get /x');
    assert.equal(root.parentId, undefined);
    assert.deepEqual(root.localEndpoint, { serviceName: 'svc', ipv4: '10.0.0.7' });
    assert.equal(root.annotations[0].value, 'something happened');
    assert.ok(root.duration >= 1);
    assert.equal(work.parentId, root.id);
    assert.equal(work.traceId, root.traceId);
    assert.equal(work.kind, undefined);
    assert.deepEqual(work.tags, { n: '3' });
  });

  it('joins a B3 caller (shared span) and opens a child for a W3C caller', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter });
    const context = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true, debug: false };
    tracing.continueSpan('b3', { kind: 'context', format: 'b3-multi', context }, { kind: 'SERVER', continuation: 'join' }).finish();
    tracing.continueSpan('w3c', { kind: 'context', format: 'w3c', context }, { kind: 'SERVER', continuation: 'join' }).finish();
    tracing.continueSpan('msg', { kind: 'context', format: 'b3-single', context }, { kind: 'CONSUMER', continuation: 'child' }).finish();
    const [joined, w3c, consumer] = spans;
    assert.equal(joined.id, 'b'.repeat(16));
    assert.equal(joined.shared, true);
    assert.notEqual(w3c.id, 'b'.repeat(16));
    assert.equal(w3c.parentId, 'b'.repeat(16));
    assert.equal(w3c.shared, undefined);
    assert.equal(consumer.parentId, 'b'.repeat(16));
    assert.equal(consumer.kind, 'CONSUMER');
  });

  it('joins a B3 caller that deferred the decision as a span of its own: the caller recorded nothing to share', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter });
    const deferred = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), debug: false }; // no X-B3-Sampled
    tracing.continueSpan('deferred', { kind: 'context', format: 'b3-multi', context: deferred }, { kind: 'SERVER', continuation: 'join' }).finish();
    tracing.continueSpan('debug', { kind: 'context', format: 'b3-multi', context: { ...deferred, debug: true } }, { kind: 'SERVER', continuation: 'join' }).finish();
    const [own, debug] = spans;
    assert.equal(own.id, 'b'.repeat(16), 'the caller’s span id, as zipkin-js joins');
    assert.equal(own.shared, undefined);
    assert.equal(debug.shared, true, 'a debug caller records its half');
  });

  it("puts this instance's IPv6 address in the local endpoint's ipv6 field, beside or without ipv4", () => {
    const { spans, exporter } = capture();
    new Tracing({ serviceName: 'svc', exporter, ipv6: '2001:db8::7' }).rootSpan('v6').finish();
    new Tracing({ serviceName: 'svc', exporter, ipv4: '10.0.0.7', ipv6: '2001:db8::7' }).rootSpan('both').finish();
    new Tracing({ serviceName: '', exporter, ipv6: 'fd00::1' }).rootSpan('nameless').finish();
    assert.deepEqual(spans[0].localEndpoint, { serviceName: 'svc', ipv6: '2001:db8::7' });
    assert.deepEqual(spans[1].localEndpoint, { serviceName: 'svc', ipv4: '10.0.0.7', ipv6: '2001:db8::7' });
    assert.deepEqual(spans[2].localEndpoint, { ipv6: 'fd00::1' });
  });

  it('makes one remote endpoint per service, shared by its spans, and none for no name', () => {
    const tracing = new Tracing({ serviceName: 'svc', exporter: createMemoryExporter() });
    const quotes = tracing.remoteEndpoint('Quotes-Service');
    assert.deepEqual(quotes, { serviceName: 'quotes-service' });
    assert.equal(tracing.remoteEndpoint('Quotes-Service'), quotes, 'the same object');
    assert.ok(Object.isFrozen(quotes));
    assert.equal(tracing.remoteEndpoint(''), undefined);
    assert.equal(tracing.remoteEndpoint(''), undefined, 'and again, from the cache');
  });

  it('records nothing for an unsampled trace, yet passes the decision on', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter });
    const server = tracing.continueSpan('x', { kind: 'sampling', sampled: false, debug: false }, { kind: 'SERVER', continuation: 'join' });
    const child = server.child('call', { kind: 'CLIENT', remoteService: 'other' });
    const headers: Record<string, string> = {};
    child.inject((name, value) => (headers[name] = value));
    child.finish();
    server.finish();
    assert.equal(spans.length, 0);
    assert.equal(headers['x-b3-sampled'], '0');
    assert.match(headers.traceparent ?? '', /-00$/);
  });

  it('marks debug traces and samples them even at rate 0', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 0 });
    tracing.continueSpan('x', { kind: 'sampling', debug: true }, { kind: 'SERVER', continuation: 'join' }).finish();
    tracing.continueSpan('y', none, { kind: 'SERVER', continuation: 'join' }).finish();
    assert.equal(spans.length, 1);
    assert.equal(spans[0].debug, true);
  });

  it('samples a fraction of new traces by trace id', () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 0.25 });
    const roots = Array.from({ length: 4000 }, () => tracing.rootSpan('x'));
    for (const root of roots) root.finish();
    assert.ok(spans.length > 800 && spans.length < 1200, `about a quarter sampled: ${spans.length}`);
    // The decision is the trace id's: its low 52 bits below a quarter of their range.
    for (const root of roots) assert.equal(root.recording, parseInt(root.traceId.slice(-13), 16) < 2 ** 50, root.traceId);
  });

  it('decides the same for the same trace in every service, whatever came before', () => {
    // Callers that defer the decision (B3 without a sampled flag) leave it to each service.
    const decide = (tracing: Tracing, traceId: string) =>
      tracing.continueSpan('x', { kind: 'context', format: 'b3-multi', context: { traceId, spanId: randomHex(8), debug: false } }, {
        kind: 'SERVER',
        continuation: 'join',
      }).recording;
    const services = ['accountservice', 'quotes-service', 'imageservice'].map(
      (serviceName) => new Tracing({ serviceName, exporter: createMemoryExporter(), sampleRate: 0.5 }),
    );
    const traceIds = Array.from({ length: 400 }, (_, i) => randomHex(i % 2 === 0 ? 16 : 8));
    const [first, ...others] = services.map((tracing, i) => (i === 1 ? [...traceIds].reverse() : traceIds).map((id) => ({ id, sampled: decide(tracing, id) })));
    const decisions = new Map(first!.map(({ id, sampled }) => [id, sampled]));
    for (const other of others) for (const { id, sampled } of other) assert.equal(sampled, decisions.get(id), `trace ${id}`);
    const kept = [...decisions.values()].filter(Boolean).length;
    assert.ok(kept > 140 && kept < 260, `about half sampled: ${kept} of 400`);

    // At the bound: half of the low 52 bits' range.
    const [tracing] = services;
    assert.equal(decide(tracing!, `${'f'.repeat(19)}7ffffffffffff`), true);
    assert.equal(decide(tracing!, `${'0'.repeat(19)}8000000000000`), false);
    assert.equal(decide(tracing!, '0007ffffffffffff'), true, 'a 64-bit trace id');
    assert.equal(decide(tracing!, '0008000000000000'), false, 'a 64-bit trace id');
  });

  it("keeps the caller's parent id when joining, and passes W3C tracestate and the random flag on", () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter });
    const b3 = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentId: 'c'.repeat(16), sampled: true, debug: false };
    tracing.continueSpan('b3', { kind: 'context', format: 'b3-multi', context: b3 }, { kind: 'SERVER', continuation: 'join' }).finish();
    assert.equal(spans[0].parentId, 'c'.repeat(16));
    const w3c = { traceId: 'd'.repeat(32), spanId: 'e'.repeat(16), sampled: true, debug: false, tracestate: 'congo=t61rcWkgMzE', random: true };
    const server = tracing.continueSpan('w3c', { kind: 'context', format: 'w3c', context: w3c }, { kind: 'SERVER', continuation: 'join' });
    const client = server.child('call', { kind: 'CLIENT', remoteService: 'other' });
    for (const span of [server, client]) {
      assert.equal(span.context.tracestate, 'congo=t61rcWkgMzE');
      assert.equal(span.context.random, true);
      assert.match(span.traceresponse, /-03$/);
    }
  });

  it('decides at its own rate for a sampling-only context that carries no decision', () => {
    const { spans, exporter } = capture();
    new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 })
      .continueSpan('x', { kind: 'sampling', debug: false }, { kind: 'SERVER', continuation: 'join' })
      .finish();
    assert.equal(spans.length, 1);
  });

  it('shares one endpoint per remote service', () => {
    const tracing = new Tracing({ serviceName: 'svc', exporter: createMemoryExporter() });
    assert.equal(tracing.remoteEndpoint('quotes-service'), tracing.remoteEndpoint('quotes-service'));
    assert.notEqual(tracing.remoteEndpoint('quotes-service'), tracing.remoteEndpoint('imageservice'));
    assert.deepEqual(JSON.parse(JSON.stringify(tracing.remoteEndpoint('imageservice'))), { serviceName: 'imageservice' });
  });

  it("flushes its exporter when it has a flush, and does without when it has none", async () => {
    let flushed = 0;
    const exporter = { logSpan: () => {}, flush: async () => void flushed++ };
    await new Tracing({ serviceName: 'svc', exporter }).flush();
    assert.equal(flushed, 1);
    await new Tracing({ serviceName: 'svc', exporter: createMemoryExporter() }).flush();
  });

  it('samples everything at rate 1 and nothing at rate 0, whatever the trace id', () => {
    for (const [sampleRate, expected] of [[1, true], [1.5, true], [0, false], [-1, false]] as const) {
      const tracing = new Tracing({ serviceName: 'svc', exporter: createMemoryExporter(), sampleRate });
      for (const traceId of [`${'0'.repeat(31)}1`, 'f'.repeat(32)]) {
        const span = tracing.continueSpan('x', { kind: 'context', format: 'b3-multi', context: { traceId, spanId: 'a'.repeat(16), debug: false } }, { kind: 'SERVER', continuation: 'join' });
        assert.equal(span.recording, expected, `rate ${sampleRate}, trace ${traceId}`);
        // The decision travels on as made, never as deferred.
        const headers: Record<string, string> = {};
        span.inject((name, value) => (headers[name] = value));
        assert.equal(headers['x-b3-sampled'], expected ? '1' : '0');
      }
    }
  });

  it('keeps interleaved async work in its own traces', async () => {
    const { spans, exporter } = capture();
    const tracing = new Tracing({ serviceName: 'svc', exporter });
    const requests = Array.from({ length: 200 }, async (_, i) => {
      const server = tracing.rootSpan(`request ${i}`, { kind: 'SERVER' });
      await tick();
      await server.trace('step', async (step) => {
        await tick();
        step.tag('request', i);
        step.annotate(`annotated ${i}`);
        await tick();
      });
      server.tag('request', i);
      await tick();
      server.finish();
      return server.traceId;
    });
    const traceIds = await Promise.all(requests);
    assert.equal(spans.length, 400);
    for (const [i, traceId] of traceIds.entries()) {
      const own = spans.filter((s) => s.traceId === traceId);
      assert.equal(own.length, 2);
      for (const span of own) assert.equal(span.tags.request, String(i));
      const step = own.find((s) => s.name === 'step');
      assert.equal(step?.annotations[0].value, `annotated ${i}`);
    }
  });

  it('tags a failing child span with the error and rethrows', async () => {
    const { spans, exporter } = capture();
    const root = new Tracing({ serviceName: 'svc', exporter }).rootSpan('r');
    await assert.rejects(
      root.trace('fails', async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.throws(() => root.trace('throws', () => { throw new Error('sync boom'); }), /sync boom/);
    root.finish();
    assert.equal(spans.find((s) => s.name === 'fails')?.tags.error, 'boom');
    assert.equal(spans.find((s) => s.name === 'throws')?.tags.error, 'sync boom');
  });
});
