import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { startCollector } from '../../tools/collector/index.ts';
import { createLogger } from '../log.ts';
import zipkin from 'zipkin';
import { createZipkinExporter, encodeBatch } from './exporter.ts';
import type { Endpoint, ZipkinSpan } from './model.ts';
import { Tracing } from './tracer.ts';
import { freePort, sleep, until } from '../../tools/wait.ts';

interface Line {
  at: number;
  level: string;
  msg: string;
  droppedSpans?: number;
  failedBatches?: number;
}

function capturingLog() {
  const lines: Line[] = [];
  const write = (line: string) => lines.push({ at: Date.now(), ...(JSON.parse(line) as Omit<Line, 'at'>) });
  const log = createLogger({ service: 'test' }, { write });
  const degraded = () => lines.filter((l) => l.msg === 'span export degraded');
  return { lines, log, degraded };
}


/** zipkin-js's model span holding what `span` holds, filled through zipkin-js's own API where it has one. */
function zipkinModel(span: ZipkinSpan): zipkin.model.Span {
  const { Some, None } = zipkin.option;
  const id = new zipkin.TraceId({
    traceId: span.traceId,
    spanId: span.id,
    parentId: span.parentId === undefined ? None : new Some(span.parentId),
    debug: span.debug,
    shared: span.shared,
  });
  const model = new zipkin.model.Span(id);
  // Assigned rather than set: setName lowercases in the host's locale, and the encoder is what is compared.
  (model as { name?: string }).name = span.name || undefined;
  if (span.kind) model.setKind(span.kind);
  if (span.timestamp) model.setTimestamp(span.timestamp);
  (model as { duration?: number }).duration = span.duration || undefined;
  if (span.localEndpoint) model.setLocalEndpoint(new zipkin.model.Endpoint(span.localEndpoint));
  if (span.remoteEndpoint) model.setRemoteEndpoint(new zipkin.model.Endpoint(span.remoteEndpoint));
  for (const annotation of span.annotations ?? []) model.addAnnotation(annotation.timestamp, annotation.value);
  for (const [key, value] of Object.entries(span.tags)) model.putTag(key, value);
  return model;
}

/** What zipkin-js's JSON v2 encoder writes for the batch, span by span. */
const reference = (spans: readonly ZipkinSpan[]) => `[${spans.map((span) => zipkin.jsonEncoder.JSON_V2.encode(zipkinModel(span))).join(',')}]`;

/** mulberry32: a seeded PRNG, so every run checks the same spans. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  return { next, int, pick, hex, bool: () => next() < 0.5 };
}

/** Text that JSON must escape, or not: quotes, backslashes, control characters, lone and paired surrogates, numeric keys. */
const PIECES = ['a', 'get /x', 'http.path', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u00e9', '\u2028', '\ud800', '\udfff', '\u{1f600}', '/', ' ', '1', '42', '__proto__', 'é€'];

describe('encodeBatch', () => {
  it("writes byte for byte what zipkin-js's JSON v2 encoder writes, for many random spans", () => {
    const rng = prng(0x2ba7c4);
    const text = (max: number) => Array.from({ length: rng.int(max + 1) }, () => rng.pick(PIECES)).join('');
    const endpoint = (): Endpoint | undefined => {
      if (rng.int(4) === 0) return undefined;
      // As zipkin-js's Endpoint makes it: the service name lower case, no empty name or port 0.
      const serviceName = rng.bool() ? text(3).toLocaleLowerCase() || undefined : undefined;
      const ipv4 = rng.bool() ? `10.0.${rng.int(256)}.${rng.int(256)}` : undefined;
      const port = rng.bool() ? rng.int(65536) || undefined : undefined;
      return serviceName || ipv4 || port ? { serviceName, ipv4, port } : undefined;
    };
    for (let batch = 0; batch < 200; batch++) {
      const spans = Array.from({ length: 1 + rng.int(5) }, (): ZipkinSpan => {
        const tags: Record<string, string> = {};
        for (let i = rng.int(6); i > 0; i--) tags[text(2)] = text(4);
        return {
          traceId: rng.hex(rng.pick([16, 32])),
          parentId: rng.bool() ? rng.hex(16) : undefined,
          id: rng.hex(16),
          kind: rng.pick([undefined, 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const),
          name: text(3),
          timestamp: rng.int(4) === 0 ? 0 : 1_700_000_000_000_000 + rng.int(1e12),
          duration: rng.int(4) === 0 ? 0 : 1 + rng.int(1e7),
          localEndpoint: endpoint(),
          remoteEndpoint: endpoint(),
          annotations: rng.bool() ? Array.from({ length: rng.int(3) }, () => ({ timestamp: 1 + rng.int(1e15), value: text(3) })) : undefined,
          tags,
          debug: rng.bool(),
          shared: rng.bool(),
        };
      });
      assert.equal(encodeBatch(spans), reference(spans));
    }
  });

  it("records spans as zipkin-js recorded them: the tracer's spans encode as zipkin-js encodes them", () => {
    const finished: ZipkinSpan[] = [];
    const tracing = new Tracing({ serviceName: 'AccountService', exporter: { logSpan: (span) => finished.push(span) }, ipv4: '10.0.0.1' });
    const context = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentId: '00f067aa0ba902b7', sampled: true, debug: true };
    const server = tracing.continueSpan('GET', { kind: 'context', format: 'b3-multi', context }, { kind: 'SERVER', continuation: 'join' });
    server.tag('http.path', '/accounts/10000');
    const client = server.child('getQuote', { kind: 'CLIENT', remoteService: 'Quotes-Service' });
    client.annotate('retrying');
    client.fail(new Error('timed out'));
    client.finish();
    server.trace('queryaccount', () => undefined);
    server.finish();
    const root = tracing.rootSpan('plain');
    root.finish();
    assert.equal(finished.length, 4);
    const text = encodeBatch(finished);
    assert.equal(text, reference(finished));
    // The cases are all there: shared and debug, a parent, a remote endpoint, annotations, tags and none.
    for (const field of ['"shared":true', '"debug":true', '"parentId"', '"remoteEndpoint"', '"annotations"', '"tags"']) {
      assert.ok(text.includes(field), field);
    }
    const [first] = JSON.parse(text) as Array<{ name: string; localEndpoint: object; remoteEndpoint: object }>;
    assert.equal(first?.name, 'getquote', 'names lower case');
    assert.deepEqual(first?.localEndpoint, { serviceName: 'accountservice', ipv4: '10.0.0.1' });
    assert.deepEqual(first?.remoteEndpoint, { serviceName: 'quotes-service' });
    assert.ok(!('tags' in (JSON.parse(encodeBatch([finished[3]!])) as object[])[0]!), 'no empty tags');
  });
});

describe('createZipkinExporter', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(() => Promise.all(cleanup.map((close) => close())));

  it('caps the buffer while the collector is down, reports at most once per interval, and sends once it is back', async () => {
    const port = await freePort();
    const { log, degraded } = capturingLog();
    const reportEveryMs = 50;
    const exporter = createZipkinExporter({
      url: `http://127.0.0.1:${port}`,
      log,
      intervalMs: 20,
      maxQueuedSpans: 100,
      timeoutMs: 100,
      reportEveryMs,
    });
    const tracing = new Tracing({ serviceName: 'x', exporter });

    // Synchronously, so no batch goes out in between: 100 are buffered, the rest dropped.
    for (let i = 0; i < 1000; i++) tracing.rootSpan('s').finish();
    assert.equal(exporter.stats().dropped, 900);

    // The buffered batch fails against the dead port; the reports catch up with every drop and failure, once each.
    const reported = (field: 'droppedSpans' | 'failedBatches') => degraded().reduce((sum, l) => sum + (l[field] ?? 0), 0);
    // Failed batches go on (each retry of the kept batch fails too); drops stop at 900.
    const caughtUp = () => reported('failedBatches') >= 1 && reported('droppedSpans') === exporter.stats().dropped;
    await until(caughtUp, 5000, 'the drops and the failed batch reported');
    const reports = degraded();
    assert.ok(reports.every((l) => l.level === 'warn'));
    for (let i = 1; i < reports.length; i++) {
      // Timers fire late under load, never early: a lower bound on the gap is safe.
      const gap = reports[i]!.at - reports[i - 1]!.at;
      assert.ok(gap >= reportEveryMs * 0.8, `reports ${gap} ms apart`);
    }

    // The failed batch is retried rather than lost: all 100 arrive once the collector is there.
    const collector = await startCollector({ port });
    cleanup.push(() => collector.close());
    await until(() => exporter.stats().sent === 100, 5000, 'the buffered spans sent once the collector is back');
    const sent = Array.from({ length: 10 }, () => {
      const span = tracing.rootSpan('after');
      span.finish();
      return span.traceId;
    });
    const droppedBefore = exporter.stats().dropped;
    await until(() => exporter.stats().sent === 110, 5000, 'the buffered and the new spans sent');
    await exporter.flush();
    assert.equal(exporter.stats().dropped, droppedBefore, 'nothing dropped once the collector is there');
    for (const traceId of sent) {
      assert.equal(collector.store.getTrace(traceId).length, 1, `trace ${traceId} reached the collector`);
    }

    // Nothing new, nothing logged.
    await sleep(reportEveryMs * 2);
    const quietFrom = degraded().length;
    await sleep(reportEveryMs * 4);
    assert.equal(degraded().length, quietFrom, 'no report without new drops or failures');
  });

  it('gives up on a collector that never answers, within the POST timeout, without blocking flush', async () => {
    const sockets = new Set<Socket>();
    const hanging = createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read the POST, never answer
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    });
    const { port } = hanging.address() as AddressInfo;
    const { log } = capturingLog();
    const url = `http://127.0.0.1:${port}`;
    const exporter = createZipkinExporter({ url, log, intervalMs: 1000, timeoutMs: 100, reportEveryMs: 50 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    for (let i = 0; i < 50; i++) tracing.rootSpan('s').finish();

    const started = Date.now();
    await exporter.flush();
    const ms = Date.now() - started;
    assert.ok(ms < 3000, `flush took ${ms} ms against a hanging collector`);
    assert.ok(sockets.size >= 1, 'the POST reached the collector');
    assert.equal(exporter.stats().sent, 0);
    assert.equal(exporter.stats().failedBatches, 1);
  });

  it('keeps a failed batch and delivers it once the collector is back', async () => {
    const port = await freePort();
    const { log } = capturingLog();
    const exporter = createZipkinExporter({ url: `http://127.0.0.1:${port}`, log, intervalMs: 1000, timeoutMs: 100 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    for (let i = 0; i < 10; i++) tracing.rootSpan('s').finish();
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 0, failedBatches: 1, queued: 10 });

    const collector = await startCollector({ port });
    cleanup.push(() => collector.close());
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 10, dropped: 0, failedBatches: 1, queued: 0 });
    assert.equal(collector.store.spanCount, 10);
  });

  it('drops what a failed batch cannot put back under the cap, and counts it', async () => {
    const port = await freePort();
    const { log } = capturingLog();
    const exporter = createZipkinExporter({ url: `http://127.0.0.1:${port}`, log, intervalMs: 1000, timeoutMs: 100, maxQueuedSpans: 10 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    for (let i = 0; i < 10; i++) tracing.rootSpan('s').finish();
    const failing = exporter.flush();
    for (let i = 0; i < 6; i++) tracing.rootSpan('s').finish();
    await failing;
    const { sent, dropped, queued } = exporter.stats();
    assert.equal(sent, 0);
    assert.equal(queued, 10, 'the queue is back at its cap');
    assert.equal(dropped, 6, 'what did not fit is counted');
  });

  it('sends a full batch at once, without waiting for the interval, two POSTs in flight at most', async () => {
    const collector = await startCollector({ port: 0 });
    cleanup.push(() => collector.close());
    const { log } = capturingLog();
    const exporter = createZipkinExporter({ url: collector.url, log, intervalMs: 60_000, batchSpans: 50 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    // Synchronously: full batches at 50 and 100 go out; the one at 150 would be a third POST in flight.
    for (let i = 0; i < 160; i++) tracing.rootSpan('s').finish();
    await until(() => collector.store.spanCount === 100, 5000, 'two full batches delivered long before the interval');
    assert.equal(exporter.stats().queued, 60);
    await exporter.flush();
    assert.equal(collector.store.spanCount, 160);
  });

  it('after a failed POST, leaves retrying to the interval rather than every full batch', async () => {
    const port = await freePort();
    const { log } = capturingLog();
    const exporter = createZipkinExporter({ url: `http://127.0.0.1:${port}`, log, intervalMs: 60_000, timeoutMs: 100, batchSpans: 10 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    for (let i = 0; i < 10; i++) tracing.rootSpan('s').finish();
    await until(() => exporter.stats().failedBatches === 1, 5000, 'the first full batch failed');
    for (let i = 0; i < 30; i++) tracing.rootSpan('s').finish();
    await sleep(300);
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 0, failedBatches: 1, queued: 40 });
  });

  it('sends to a collector that answers slowly, within the timeout', async () => {
    const slow = createHttpServer((request, response) => {
      request.resume();
      request.on('end', () => setTimeout(() => response.writeHead(202).end(), 50));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    });
    const { port } = slow.address() as AddressInfo;
    const { log } = capturingLog();
    const exporter = createZipkinExporter({ url: `http://127.0.0.1:${port}`, log, intervalMs: 1000, timeoutMs: 2000 });
    const tracing = new Tracing({ serviceName: 'x', exporter });
    for (let i = 0; i < 20; i++) tracing.rootSpan('s').finish();
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 20, dropped: 0, failedBatches: 0, queued: 0 });
  });
});
