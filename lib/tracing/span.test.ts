import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryExporter } from './exporter.ts';
import type { ZipkinSpan } from './model.ts';
import { nowMicros } from './span.ts';
import { Tracing } from './tracer.ts';

function tracer() {
  const exporter = createMemoryExporter();
  return { spans: exporter.spans, tracing: new Tracing({ serviceName: 'svc', exporter }) };
}

/** The fields that are set: a context leaves out what it does not carry. */
const defined = (record: object) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));

describe('Span', () => {
  it('reports once, however often it is finished, and takes no annotation after', () => {
    // The exporter holds the model span itself until its batch leaves: nothing may change it after.
    const models: ZipkinSpan[] = [];
    const tracing = new Tracing({ serviceName: 'svc', exporter: { logSpan: (span) => models.push(span) } });
    const span = tracing.rootSpan('once');
    span.annotate('before');
    span.finish();
    span.annotate('after');
    span.finish();
    assert.equal(models.length, 1);
    assert.deepEqual(models[0]!.annotations?.map((a) => a.value), ['before']);
  });

  it('gives CLIENT spans their remote service, and local spans none', () => {
    const { spans, tracing } = tracer();
    const server = tracing.rootSpan('server', { kind: 'SERVER' });
    server.child('call', { kind: 'CLIENT', remoteService: 'quotes-service' }).finish();
    server.child('local').finish();
    server.finish();
    const [call, local, root] = spans;
    assert.deepEqual(call.remoteEndpoint, { serviceName: 'quotes-service' });
    assert.equal(local.remoteEndpoint, undefined);
    assert.equal(local.kind, undefined);
    assert.equal(root.remoteEndpoint, undefined);
  });

  it('times itself in microseconds, one at the least', () => {
    const { spans, tracing } = tracer();
    const before = nowMicros();
    const span = tracing.rootSpan('quick');
    span.finish();
    const after = nowMicros();
    assert.ok(spans[0].timestamp >= before && spans[0].timestamp <= after, 'started between the two readings');
    assert.ok(spans[0].duration >= 1 && spans[0].duration <= after - before + 1, `duration ${spans[0].duration} µs`);
    assert.ok(Math.abs(nowMicros() / 1000 - Date.now()) < 1000, 'microseconds since the epoch');
    const slow = tracing.rootSpan('slow');
    const until = performance.now() + 3;
    while (performance.now() < until); // busy for 3 ms
    slow.finish();
    assert.ok(spans[1].duration >= 3000, `a 3 ms span lasted ${spans[1].duration} µs`);
  });

  it('lowercases names without the host locale, renamed or not', () => {
    const { spans, tracing } = tracer();
    const span = tracing.rootSpan('GET /Items');
    span.setName('GET /ITEMS/:ID');
    span.finish();
    tracing.rootSpan('İSTANBUL').finish();
    assert.equal(spans[0].name, 'get /items/:id');
    assert.equal(spans[1].name, 'i̇stanbul');
  });

  it('caps tag values at 512 characters and writes values as strings', () => {
    const { spans, tracing } = tracer();
    const span = tracing.rootSpan('tags');
    span.tag('long', 'x'.repeat(600));
    span.tag('exact', 'y'.repeat(512));
    span.tag('n', 3);
    span.tag('flag', false);
    span.finish();
    assert.deepEqual(spans[0].tags, { long: 'x'.repeat(512), exact: 'y'.repeat(512), n: '3', flag: 'false' });
  });

  it("names a failure by the error's message, else its name, else what was thrown", () => {
    const { spans, tracing } = tracer();
    const root = tracing.rootSpan('root');
    const failures: unknown[] = [new Error('boom'), new TypeError(''), 'plain text', '', 42];
    const children = failures.map((failure, i) => {
      const child = root.child(`failed ${i}`);
      child.fail(failure);
      child.finish();
      return child;
    });
    root.finish();
    const errorOf = (i: number) => spans.find((s) => s.id === children[i]!.spanId).tags.error;
    assert.deepEqual(failures.map((_, i) => errorOf(i)), ['boom', 'TypeError', 'plain text', 'error', '42']);
  });

  it('records nothing for an unsampled trace, yet keeps its ids and says so', () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 0 });
    const span = tracing.rootSpan('unsampled');
    span.tag('k', 'v');
    span.annotate('a');
    span.setName('renamed');
    const child = span.child('child');
    child.finish();
    span.finish();
    assert.equal(span.recording, false);
    assert.equal(exporter.spans.length, 0);
    assert.equal(child.traceId, span.traceId);
    assert.match(span.traceresponse, new RegExp(`^00-${span.traceId}-${span.spanId}-00$`));
    assert.equal(span.context.sampled, false);
  });

  it('gives its context: ids, the parent, the decision and the debug flag', () => {
    const { tracing } = tracer();
    const context = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentId: 'c'.repeat(16), sampled: true, debug: true };
    const joined = tracing.continueSpan('x', { kind: 'context', format: 'b3-multi', context }, { kind: 'SERVER', continuation: 'join' });
    assert.deepEqual(defined(joined.context), { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), parentId: 'c'.repeat(16), sampled: true, debug: true });
    const deferred = tracing.continueSpan('y', { kind: 'context', format: 'b3-multi', context: { traceId: 'd'.repeat(32), spanId: 'e'.repeat(16), debug: false } }, { kind: 'CONSUMER', continuation: 'child' });
    assert.deepEqual(defined(deferred.context), { traceId: 'd'.repeat(32), spanId: deferred.spanId, parentId: 'e'.repeat(16), sampled: true, debug: false });
    const root = tracing.rootSpan('z');
    assert.deepEqual(Object.keys(defined(root.context)).sort(), ['debug', 'sampled', 'spanId', 'traceId'], 'no parent, no W3C extras');
  });
});
