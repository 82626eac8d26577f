import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import zipkin from 'zipkin';
import { createCollectorApp, type CollectorAppOptions, type CollectorLogEvent } from '../../tools/collector/index.ts';
import { createSpanListValidator } from '../../tools/collector/span-validator.ts';
import { createLogger } from '../log.ts';
import { createZipkinExporter, encodeBatch, retryAfterMs, verdictOf, type ZipkinExporterOptions } from './exporter.ts';
import type { Endpoint, ZipkinSpan } from './model.ts';
import { Tracing } from './tracer.ts';
import { freePort, sleep, until } from '../../tools/wait.ts';

interface Line {
  at: number;
  level: string;
  msg: string;
  droppedSpans?: number;
  rejectedSpans?: number;
  failedBatches?: number;
  queued?: number;
  unsentAfterFlush?: number;
  lastError?: string;
  lastRefusal?: string;
}

function capturingLog() {
  const lines: Line[] = [];
  const write = (line: string) => lines.push({ at: Date.now(), ...(JSON.parse(line) as Omit<Line, 'at'>) });
  const log = createLogger({ service: 'test' }, { write });
  const degraded = () => lines.filter((l) => l.msg === 'span export degraded');
  return { lines, log, degraded };
}

const cleanup: Array<() => Promise<unknown>> = [];
after(() => Promise.all(cleanup.map((close) => close())));

interface Post {
  at: number;
  bytes: number;
  names: string[];
}

/**
 * The local collector behind a front that records every POST and may answer one itself
 * (`answer` returns a Response) instead of passing it on. The collector validates what it
 * gets against the Zipkin v2 spec and answers 400 or 413 as it would.
 */
async function startCollector({
  port = 0,
  answer = () => undefined,
  ...options
}: CollectorAppOptions & { port?: number; answer?: (post: Post, index: number) => Response | undefined } = {}) {
  const events: CollectorLogEvent[] = [];
  const app = createCollectorApp({ ...options, log: (event) => events.push(event) });
  const posts: Post[] = [];
  const server = serve({
    port,
    hostname: '127.0.0.1',
    fetch: async (request) => {
      if (request.method !== 'POST') return app.fetch(request);
      const body = await request.arrayBuffer();
      const spans = JSON.parse(new TextDecoder().decode(body)) as Array<{ name?: string }>;
      const post = { at: performance.now(), bytes: body.byteLength, names: spans.map((s) => s.name ?? '') };
      posts.push(post);
      return answer(post, posts.length - 1) ?? app.fetch(new Request(request.url, { method: 'POST', headers: request.headers, body }));
    },
  });
  await once(server, 'listening');
  const close = () => new Promise((resolve) => {
    server.close(resolve);
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
  cleanup.push(close);
  const bound = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${bound}`, posts, events, store: app.store, close };
}

/** An HTTP front for `target` that holds each POST until `released` settles, counting those it holds. */
async function startFront(target: string, released: Promise<unknown>) {
  let held = 0;
  const server = serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (request) => {
      const body = await request.arrayBuffer();
      held++;
      await released;
      held--;
      return fetch(`${target}${new URL(request.url).pathname}`, { method: request.method, headers: request.headers, body });
    },
  });
  await once(server, 'listening');
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, waiting: () => held };
}

/** An exporter and a tracer feeding it; `finish(n, name)` ends n root spans synchronously. */
function exporting(options: Omit<ZipkinExporterOptions, 'log'>) {
  const { log, degraded, lines } = capturingLog();
  const exporter = createZipkinExporter({ log, ...options });
  const tracing = new Tracing({ serviceName: 'x', exporter });
  const finish = (n: number, name = 's') => {
    for (let i = 0; i < n; i++) tracing.rootSpan(name).finish();
  };
  return { exporter, tracing, finish, degraded, lines };
}

/** A span the collector refuses: its ids are not hex. */
function invalidSpan(): ZipkinSpan {
  return {
    traceId: 'not-hex',
    parentId: undefined,
    id: 'not-hex',
    kind: undefined,
    name: 'invalid',
    timestamp: Date.now() * 1000,
    duration: 1,
    localEndpoint: undefined,
    remoteEndpoint: undefined,
    annotations: undefined,
    tags: {},
    debug: false,
    shared: false,
  };
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

  it('encodes an IPv6 local endpoint as the Zipkin v2 API has it, checked against the spec', () => {
    const finished: ZipkinSpan[] = [];
    const logSpan = (span: ZipkinSpan) => finished.push(span);
    new Tracing({ serviceName: 'quotes-service', exporter: { logSpan }, ipv6: '2001:db8::c001' }).rootSpan('get /api/quote').finish();
    new Tracing({ serviceName: 'quotes-service', exporter: { logSpan }, ipv4: '10.1.2.3', ipv6: 'fd00::3' }).rootSpan('get /api/quote').finish();
    const text = encodeBatch(finished);
    assert.ok(text.includes('"localEndpoint":{"serviceName":"quotes-service","ipv6":"2001:db8::c001"}'), text);
    assert.ok(text.includes('"localEndpoint":{"serviceName":"quotes-service","ipv4":"10.1.2.3","ipv6":"fd00::3"}'), text);
    const validation = createSpanListValidator()(JSON.parse(text));
    assert.equal(validation.valid, true, JSON.stringify(validation));
    // The validator does check the field's format: an IPv6 address in ipv4 is refused.
    const misplaced = JSON.parse(text.replace('"ipv6":"2001:db8::c001"', '"ipv4":"2001:db8::c001"')) as unknown;
    assert.equal(createSpanListValidator()(misplaced).valid, false);
  });
});

describe('verdictOf', () => {
  it('sends on 2xx, splits on 413, retries what may pass later, and drops the rest', () => {
    const verdicts = Object.fromEntries([200, 202, 204, 299, 408, 429, 500, 502, 503, 504, 413, 400, 401, 403, 404, 415, 422, 300, 199].map((s) => [s, verdictOf(s)]));
    assert.deepEqual(verdicts, {
      199: 'reject', 200: 'sent', 202: 'sent', 204: 'sent', 299: 'sent', 300: 'reject',
      400: 'reject', 401: 'reject', 403: 'reject', 404: 'reject', 408: 'retry', 413: 'split', 415: 'reject', 422: 'reject',
      429: 'retry', 500: 'retry', 502: 'retry', 503: 'retry', 504: 'retry',
    });
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP-dates, and nothing else', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    assert.equal(retryAfterMs('120', now), 120_000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Wed, 21 Oct 2026 07:28:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Wed, 21 Oct 2026 07:27:00 GMT', now), 0, 'a date in the past');
    for (const bad of [null, '', '  ', '1.5', '-3', 'soon']) assert.equal(retryAfterMs(bad, now), undefined, String(bad));
  });
});

describe('createZipkinExporter', () => {
  it('caps the buffer while the collector is down, reports at most once per interval, and sends once it is back', async () => {
    const port = await freePort();
    const reportEveryMs = 50;
    const { exporter, finish, degraded } = exporting({
      url: `http://127.0.0.1:${port}`,
      intervalMs: 20,
      maxQueuedSpans: 100,
      timeoutMs: 2000,
      maxBackoffMs: 100,
      reportEveryMs,
    });

    // Synchronously, so no batch goes out in between: 100 are buffered, the rest dropped.
    finish(1000);
    assert.equal(exporter.stats().dropped, 900);

    // The buffered batch fails against the dead port; the reports catch up with every drop and failure, once each.
    const reported = (field: 'droppedSpans' | 'failedBatches') => degraded().reduce((sum, l) => sum + (l[field] ?? 0), 0);
    await until(() => reported('failedBatches') >= 2 && reported('droppedSpans') === 900, 5000, 'the drops and failed POSTs reported');
    const reports = degraded();
    assert.ok(reports.every((l) => l.level === 'warn'));
    assert.match(String(reports.find((l) => l.failedBatches)?.lastError), /ECONNREFUSED/, 'the reason the POST failed');
    assert.ok(reports.every((l) => l.queued! <= 100), 'never more queued than the cap');
    assert.ok(reports.some((l) => l.queued === 100), 'the failed batch queued for a retry');
    for (let i = 1; i < reports.length; i++) {
      // Timers fire late under load, never early: a lower bound on the gap is safe.
      const gap = reports[i]!.at - reports[i - 1]!.at;
      assert.ok(gap >= reportEveryMs * 0.8, `reports ${gap} ms apart`);
    }

    // The failed batch is retried rather than lost: all 100 arrive once the collector is there.
    const collector = await startCollector({ port });
    await until(() => exporter.stats().sent === 100, 5000, 'the buffered spans sent once the collector is back');
    finish(10, 'after');
    await until(() => exporter.stats().sent === 110, 5000, 'the buffered and the new spans sent');
    assert.equal(exporter.stats().dropped, 900, 'nothing dropped once the collector is there');
    assert.equal(collector.store.spanCount, 110);

    // Nothing new, nothing logged. An absence can only be seen by waiting: a few report intervals.
    await sleep(reportEveryMs * 2);
    const quietFrom = degraded().length;
    await sleep(reportEveryMs * 4);
    assert.equal(degraded().length, quietFrom, 'no report without new drops or failures');
  });
  it('gives up on a collector that never answers after the POST timeout, without blocking flush', async () => {
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
    const timeoutMs = 100;
    const { exporter, finish, degraded } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs, reportEveryMs: 20 });
    finish(50);

    // However late timers fire on a loaded machine shows as event-loop delay: the bound allows exactly that.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const started = performance.now();
    await exporter.flush();
    const ms = performance.now() - started;
    lag.disable();
    const bound = timeoutMs + lag.max / 1e6 + 50;
    assert.ok(ms >= timeoutMs - 2, `flush gave up after ${ms.toFixed(0)} ms, before the timeout`);
    assert.ok(ms < bound, `flush took ${ms.toFixed(0)} ms against a hanging collector (bound ${bound.toFixed(0)} ms)`);
    // The connection is accepted on this same event loop, possibly after the client gave up on it.
    await until(() => sockets.size >= 1, 5000, 'the POST to reach the collector');
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 0, rejected: 0, failedBatches: 1, queued: 50 });
    await until(() => degraded().length > 0, 5000, 'the failure reported');
    assert.equal(degraded()[0]!.lastError, 'The operation was aborted due to timeout');
  });

  it('says at the end of a flush what it could not send, without waiting for the next report', async () => {
    const port = await freePort();
    const { exporter, finish, degraded } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, reportEveryMs: 60_000 });
    finish(3);
    await exporter.flush();
    // A stopping service exits right after its last flush: the line must be written by then.
    assert.equal(degraded().length, 1);
    const [line] = degraded();
    assert.equal(line!.level, 'warn');
    assert.deepEqual(
      { failedBatches: line!.failedBatches, unsentAfterFlush: line!.unsentAfterFlush, queued: line!.queued },
      { failedBatches: 1, unsentAfterFlush: 3, queued: 3 },
    );
    assert.match(line!.lastError ?? '', /ECONNREFUSED|refused|fetch failed/i);

    // Once the collector takes everything, a flush has nothing to say.
    await startCollector({ port });
    await exporter.flush();
    assert.equal(exporter.stats().sent, 3);
    assert.equal(degraded().length, 1);
  });

  it('says it once when two flushes wait on the same failed POST, and again only when more is unsent', async () => {
    const port = await freePort();
    const { exporter, finish, degraded } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, reportEveryMs: 60_000 });
    finish(3);
    await Promise.all([exporter.flush(), exporter.flush()]);
    assert.deepEqual(degraded().map((line) => line.unsentAfterFlush), [3]);
    finish(2);
    await exporter.flush();
    assert.deepEqual(degraded().map((line) => line.unsentAfterFlush), [3, 5]);
  });

  it('keeps a failed batch and delivers it once the collector is back', async () => {
    const port = await freePort();
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, batchSpans: 10 });
    finish(9);
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 0, rejected: 0, failedBatches: 1, queued: 9 });

    const collector = await startCollector({ port });
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 9, dropped: 0, rejected: 0, failedBatches: 1, queued: 0 });
    assert.equal(collector.store.spanCount, 9);
    // A success ends the pause the failure began: a full batch leaves at once again.
    finish(10);
    assert.equal(exporter.stats().queued, 0);
  });

  it('drops what a failed batch cannot put back under the cap, and counts it', async () => {
    const port = await freePort();
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, maxQueuedSpans: 10 });
    finish(10);
    const failing = exporter.flush();
    finish(6);
    await failing;
    const { sent, dropped, queued } = exporter.stats();
    assert.equal(sent, 0);
    assert.equal(queued, 10, 'the queue is back at its cap');
    assert.equal(dropped, 6, 'what did not fit is counted');
    finish(1);
    assert.equal(exporter.stats().dropped, 7, 'spans kept for a retry count against the cap');

    const collector = await startCollector({ port });
    await exporter.flush();
    assert.equal(collector.store.spanCount, 10);
    assert.deepEqual(collector.posts.map((p) => p.names.length).sort(), [4, 6], 'what was kept, in its batches, none empty');
  });

  it('sends a full batch at once, two POSTs in flight at most, and goes on with full batches as POSTs succeed', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const collector = await startCollector();
    const gate = await startFront(collector.url, released);
    const { exporter, finish } = exporting({ url: gate.url, intervalMs: 60_000, batchSpans: 50 });
    // Synchronously: full batches at 50 and 100 leave at once; the one at 150 would be a third POST in flight.
    finish(160);
    assert.equal(exporter.stats().queued, 60, 'two batches of 50 left, long before the interval');
    await until(() => gate.waiting() === 2, 5000, 'two POSTs held at the collector');
    release();
    // As a POST succeeds the next full batch leaves; the last 10 wait for the interval.
    await until(() => exporter.stats().sent === 150, 5000, 'three full batches delivered');
    assert.equal(exporter.stats().queued, 10);
    assert.deepEqual(collector.posts.map((p) => p.names.length), [50, 50, 50]);
    await exporter.flush();
    assert.equal(collector.store.spanCount, 160);
  });

  it('after a failed POST, leaves retrying to the timer rather than every full batch', async () => {
    const port = await freePort();
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, batchSpans: 10 });
    finish(10);
    await until(() => exporter.stats().failedBatches === 1, 5000, 'the first full batch failed');
    // A POST would take its spans out of the queue at once: none went.
    finish(30);
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 0, rejected: 0, failedBatches: 1, queued: 40 });
  });

  it('sends a user and password in the URL as basic auth, not in the URL', async () => {
    const seen: Array<{ authorization: string | null; url: string }> = [];
    const server = serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (request) => (seen.push({ authorization: request.headers.get('authorization'), url: request.url }), new Response(null, { status: 202 })),
    });
    await once(server, 'listening');
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    const { exporter, finish } = exporting({ url: `http://zip%20kin:p%40ss:w@127.0.0.1:${port}/base`, intervalMs: 60_000 });
    finish(2);
    await exporter.flush();
    assert.deepEqual(seen, [{ authorization: `Basic ${Buffer.from('zip kin:p@ss:w').toString('base64')}`, url: `http://127.0.0.1:${port}/base/api/v2/spans` }]);
    assert.equal(exporter.stats().sent, 2);
  });

  it('sends to a collector that answers slowly, within the timeout', async () => {
    const collector = await startCollector();
    const slow = await startFront(collector.url, sleep(50));
    const { exporter, finish } = exporting({ url: slow.url, intervalMs: 60_000, timeoutMs: 2000 });
    finish(20);
    await exporter.flush();
    assert.deepEqual(exporter.stats(), { sent: 20, dropped: 0, rejected: 0, failedBatches: 0, queued: 0 });
  });

  it('drops a batch the collector refuses, logs its reason, and sends the batches behind it', async () => {
    const collector = await startCollector();
    const { exporter, tracing, finish, degraded } = exporting({ url: collector.url, intervalMs: 20, batchSpans: 10, reportEveryMs: 50 });
    // One invalid span makes the collector refuse its whole batch (400), every time it would be sent.
    finish(9, 'refused');
    tracing.report(invalidSpan());
    finish(25, 'behind');
    await until(() => collector.store.spanCount === 25, 5000, 'the batches behind the refused one delivered');
    await until(() => degraded().some((l) => l.rejectedSpans === 10), 5000, 'the refusal reported');
    await exporter.flush();
    const refused = collector.events.filter((e) => e.event === 'spans rejected');
    assert.deepEqual(refused.map((e) => e.status), [400], 'the refused batch was posted once, never again');
    assert.deepEqual({ ...exporter.stats(), failedBatches: undefined }, { sent: 25, dropped: 0, rejected: 10, failedBatches: undefined, queued: 0 });
    const report = degraded().find((l) => l.rejectedSpans === 10)!;
    assert.equal(report.level, 'warn');
    assert.match(report.lastRefusal ?? '', /^10 spans refused: 400 .*invalid spans, none stored/);
  });

  it('retries a batch answered 5xx, 408 or 429, waiting longer each time, without holding back the rest', async () => {
    const statuses = [500, 408, 429, 503];
    // The first batch is answered each status in turn, then accepted; every other batch is accepted at once.
    const collector = await startCollector({
      answer: (post) => {
        if (post.names[0] !== 'retried') return undefined;
        const attempt = collector.posts.filter((p) => p.names[0] === 'retried').length - 1;
        return attempt < statuses.length ? new Response('not now', { status: statuses[attempt] }) : undefined;
      },
    });
    const intervalMs = 20;
    const { exporter, finish } = exporting({ url: collector.url, intervalMs, batchSpans: 5, maxBackoffMs: 10_000 });
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    finish(5, 'retried');
    await until(() => collector.posts.length === 1, 5000, 'the first POST');
    finish(20, 'behind');
    await until(() => collector.store.spanCount === 25, 10_000, 'everything delivered');
    const attempts = collector.posts.filter((p) => p.names[0] === 'retried');
    assert.equal(attempts.length, statuses.length + 1);
    assert.equal(exporter.stats().failedBatches, statuses.length);
    lag.disable();
    // The batch's own backoff doubles from the interval, jitter taking at most half: retry n comes at
    // least interval * 2^(n-1) / 2 after the one before, and at most that full step later, plus the
    // exporter's pause after a failure (the interval: the spans behind succeeded in between), plus a
    // tick to notice, plus however late timers fired.
    const slack = lag.max / 1e6 + 50;
    for (let n = 1; n < attempts.length; n++) {
      const gap = attempts[n]!.at - attempts[n - 1]!.at;
      const step = intervalMs * 2 ** (n - 1);
      assert.ok(gap >= step / 2, `retry ${n} came ${gap.toFixed(0)} ms after the one before, under ${step / 2} ms`);
      assert.ok(gap <= step + 2 * intervalMs + slack, `retry ${n} came ${gap.toFixed(0)} ms after the one before, over ${step} ms`);
    }
    const behind = collector.posts.filter((p) => p.names[0] === 'behind');
    assert.ok(behind[0]!.at < attempts.at(-1)!.at, 'the spans behind went out while the first batch still waited for its retry');
  });

  it('waits as long as Retry-After asks before the next POST', async () => {
    const collector = await startCollector({
      answer: (_, index) => (index === 0 ? new Response(null, { status: 429, headers: { 'retry-after': '1' } }) : undefined),
    });
    const { exporter, finish } = exporting({ url: collector.url, intervalMs: 20, batchSpans: 5 });
    finish(5);
    await until(() => collector.posts.length === 1, 5000, 'the first POST');
    finish(5);
    await until(() => exporter.stats().sent === 10, 5000, 'both batches delivered');
    assert.ok(collector.posts[1]!.at - collector.posts[0]!.at >= 1000 - 2, 'nothing posted within the second Retry-After asked for');
    assert.deepEqual(exporter.stats(), { sent: 10, dropped: 0, rejected: 0, failedBatches: 1, queued: 0 });
  });

  it('splits a batch the collector finds too large (413) until it fits, and drops a span that never fits', async () => {
    const collector = await startCollector({ maxBodyBytes: 4000 });
    const { exporter, tracing, finish } = exporting({ url: collector.url, intervalMs: 60_000 });
    finish(40, 'split');
    const huge = tracing.rootSpan('huge');
    for (let i = 0; i < 20; i++) huge.tag(`tag.${i}`, 'x'.repeat(500));
    huge.finish();
    await exporter.flush();
    assert.equal(collector.store.spanCount, 40);
    assert.ok(collector.posts.every((p) => p.names.length > 0), 'no empty POST');
    assert.ok(collector.posts.filter((p) => p.bytes <= 4000).every((p) => !p.names.includes('huge')));
    assert.deepEqual({ ...exporter.stats(), failedBatches: 0 }, { sent: 40, dropped: 0, rejected: 1, failedBatches: 0, queued: 0 });
    const tooLarge = collector.events.filter((e) => e.status === 413).length;
    assert.equal(exporter.stats().failedBatches, tooLarge, 'each 413 counted as a failed POST');
  });

  it('caps each POST in spans and bytes, as after an outage', async () => {
    const port = await freePort();
    const messageMaxBytes = 8000;
    const { exporter, tracing, finish } = exporting({
      url: `http://127.0.0.1:${port}`,
      intervalMs: 20,
      timeoutMs: 2000,
      maxBackoffMs: 50,
      batchSpans: 100,
      maxQueuedSpans: 1000,
      messageMaxBytes,
    });
    finish(1000);
    await until(() => exporter.stats().failedBatches >= 1, 5000, 'a POST failed while the collector is down');
    const collector = await startCollector({ port, maxBodyBytes: messageMaxBytes });
    await until(() => collector.store.spanCount === 1000, 10_000, 'everything held delivered');
    assert.ok(collector.posts.every((p) => p.names.length > 0 && p.names.length <= 100), `spans per POST: ${collector.posts.map((p) => p.names.length)}`);
    assert.ok(collector.posts.every((p) => p.bytes <= messageMaxBytes), `bytes per POST: ${collector.posts.map((p) => p.bytes)}`);
    assert.equal(collector.events.filter((e) => e.status === 413).length, 0, 'nothing too large was posted');

    // A span that alone is over the bound is dropped before it is posted.
    const huge = tracing.rootSpan('huge');
    for (let i = 0; i < 20; i++) huge.tag(`tag.${i}`, 'x'.repeat(500));
    huge.finish();
    const posts = collector.posts.length;
    await exporter.flush();
    assert.equal(collector.posts.length, posts);
    assert.equal(exporter.stats().rejected, 1);
  });
  it('posts a batch of exactly messageMaxBytes whole, and splits one a byte over', async () => {
    const models: ZipkinSpan[] = [];
    const tracing = new Tracing({ serviceName: 'x', exporter: { logSpan: (span) => models.push(span) } });
    for (let i = 0; i < 10; i++) tracing.rootSpan('s').finish();
    const bytes = new TextEncoder().encode(encodeBatch(models)).length;
    for (const [messageMaxBytes, posts] of [[bytes, [10]], [bytes - 1, [5, 5]]] as const) {
      const collector = await startCollector();
      const { log } = capturingLog();
      const exporter = createZipkinExporter({ url: collector.url, log, intervalMs: 60_000, messageMaxBytes });
      for (const span of models) exporter.logSpan(span);
      await exporter.flush();
      assert.deepEqual(collector.posts.map((p) => p.names.length), posts, `messageMaxBytes ${messageMaxBytes} for a batch of ${bytes}`);
    }
  });

  it('reports the latest failure and refusal of each interval, each once, with the reason tidied', async () => {
    const reason = `  refused,\n\n  for a reason\t${'x'.repeat(300)}`;
    const collector = await startCollector({
      answer: (_, index) => [new Response('busy', { status: 503 }), new Response(reason, { status: 400 }), new Response(null, { status: 404 })][index],
    });
    const { exporter, finish, degraded } = exporting({ url: collector.url, intervalMs: 20, batchSpans: 5, maxBackoffMs: 20, reportEveryMs: 30 });
    const refusedSoFar = () => degraded().reduce((n, l) => n + (l.rejectedSpans ?? 0), 0);
    finish(5);
    await until(() => degraded().length === 1, 5000, 'the failure reported');
    await until(() => refusedSoFar() === 5, 5000, 'the retried batch refused, and reported');
    finish(5);
    await until(() => refusedSoFar() === 10, 5000, 'the second batch refused, and reported');
    const [failure, ...refusals] = degraded();
    assert.equal(failure!.lastError, 'collector answered 503 busy');
    assert.equal(failure!.lastRefusal, undefined);
    assert.equal(exporter.stats().rejected, 10);
    assert.deepEqual(
      refusals.map((l) => [l.lastError, l.lastRefusal]),
      [
        [undefined, `5 spans refused: 400 refused, for a reason ${'x'.repeat(300)}`.slice(0, '5 spans refused: 400 '.length + 200)],
        [undefined, '5 spans refused: 404'],
      ],
      'a problem is reported once, its reason on one line and at most 200 characters',
    );
  });
  it('probes a collector that stopped answering with one POST at a time', async () => {
    const sockets = new Set<Socket>();
    const accepted: number[] = [];
    const hanging = createServer((socket) => {
      sockets.add(socket);
      // When the POST arrives: the client may open a connection well before it sends on it.
      socket.once('data', () => accepted.push(performance.now()));
      socket.resume();
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    });
    const { port } = hanging.address() as AddressInfo;
    const timeoutMs = 100;
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 10, timeoutMs, maxBackoffMs: 10, batchSpans: 10 });
    finish(60);
    assert.equal(exporter.stats().queued, 40, 'two full batches in flight while the collector seemed well');
    await until(() => accepted.length >= 6, 10_000, 'four probes');
    // Each probe starts only once the one before gave up, a POST timeout later.
    const gaps = accepted.slice(2).map((at, i) => at - accepted[i + 1]!);
    assert.ok(gaps.every((gap) => gap >= timeoutMs - 10), `ms between probes: ${gaps.map((g) => g.toFixed(0))}`);
  });

  it('counts the spans held for a retry against the cap when another failed batch comes back', async () => {
    const port = await freePort();
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, batchSpans: 5, maxQueuedSpans: 10 });
    finish(5); // a full batch, posted
    finish(5); // another
    finish(3); // waiting
    await until(() => exporter.stats().failedBatches === 2, 5000, 'both POSTs failed');
    // The first failed batch fits (3 waiting + 5); of the second only 2 do.
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 3, rejected: 0, failedBatches: 2, queued: 10 });
  });

  it('drops a failed batch wholly when the buffer has filled meanwhile, and never posts an empty one', async () => {
    const port = await freePort();
    const { exporter, finish } = exporting({ url: `http://127.0.0.1:${port}`, intervalMs: 60_000, timeoutMs: 2000, maxQueuedSpans: 10 });
    finish(10);
    const failing = exporter.flush();
    finish(10);
    await failing;
    assert.deepEqual(exporter.stats(), { sent: 0, dropped: 10, rejected: 0, failedBatches: 1, queued: 10 });
    const collector = await startCollector({ port });
    await exporter.flush();
    assert.deepEqual(collector.posts.map((p) => p.names.length), [10]);
  });

  it('reports drops alone, and a span too large to post alone, while the collector is well', async () => {
    const collector = await startCollector();
    const { exporter, tracing, finish, degraded } = exporting({ url: collector.url, intervalMs: 60_000, maxQueuedSpans: 5, messageMaxBytes: 2000, reportEveryMs: 20 });
    finish(8);
    await exporter.flush();
    await until(() => degraded().length === 1, 5000, 'the drops reported');
    assert.deepEqual(degraded().map((l) => [l.droppedSpans, l.rejectedSpans, l.failedBatches, l.queued]), [[3, 0, 0, 0]]);
    const huge = tracing.rootSpan('huge');
    for (let i = 0; i < 10; i++) huge.tag(`tag.${i}`, 'x'.repeat(500));
    huge.finish();
    await exporter.flush();
    await until(() => degraded().length === 2, 5000, 'the span too large reported');
    const report = degraded()[1]!;
    assert.deepEqual([report.droppedSpans, report.rejectedSpans, report.failedBatches], [0, 1, 0]);
    assert.match(report.lastRefusal ?? '', /^1 spans refused: \d{4} bytes, over messageMaxBytes \(2000\)$/);
    assert.equal(collector.posts.length, 1, 'nothing posted for it');
  });
});
