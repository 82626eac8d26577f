import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createMemoryExporter } from './tracing/exporter.ts';
import { ServiceClient } from './http-client.ts';
import { createLogger } from './log.ts';
import { Tracing } from './tracing/tracer.ts';
import { until } from '../tools/wait.ts';

type Behaviour = (request: IncomingMessage) => { status: number; body?: unknown; delayMs?: number } | 'hang';

/** A real HTTP server on loopback whose answers the test switches. */
async function remote() {
  let behaviour: Behaviour = () => ({ status: 200, body: { ok: true } });
  const requests: IncomingMessage[] = [];
  /** The body of each request, in the order of `requests`. */
  const bodies: string[] = [];
  /** Requests whose client went away before an answer: aborted attempts. */
  const abandoned: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request);
    const chunks: Buffer[] = [];
    const at = bodies.push('') - 1;
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => (bodies[at] = Buffer.concat(chunks).toString()));
    response.on('close', () => {
      if (!response.writableFinished) abandoned.push(request);
    });
    const answer = behaviour(request);
    if (answer === 'hang') return;
    const send = () => {
      if (response.destroyed) return;
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body ?? {}));
    };
    if (answer.delayMs) setTimeout(send, answer.delayMs);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    bodies,
    abandoned,
    connections: () => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n)))),
    set: (next: Behaviour) => (behaviour = next),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function tracing() {
  const exporter = createMemoryExporter();
  return { spans: exporter.spans, tracing: new Tracing({ serviceName: 'caller', exporter }) };
}

const log = createLogger({ service: 'test' }, { write: () => {} });

/** Every attempt span ended no later than its parent: the call waited for what it aborted. */
function assertNoSpanOutlivesItsParent(spans: ReturnType<typeof tracing>['spans']) {
  const byId = new Map(spans.map((s) => [s.id, s]));
  for (const span of spans) {
    const parent = span.parentId === undefined ? undefined : byId.get(span.parentId);
    if (!parent) continue;
    const end = (s: typeof span) => s.timestamp! + s.duration!;
    assert.ok(end(span) <= end(parent), `${span.name} ends ${end(span) - end(parent)} µs after its parent ${parent.name}`);
  }
}
const FALLBACK = { ok: false };

/** Holds the event loop for `ms`, as a burst of synchronous work does. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
/** One attempt with time to spare, for tests about a call that succeeds: a loaded machine does not time it out. */
const PATIENT = { attempts: 1, delayMs: 5, attemptTimeoutMs: 5000, deadlineMs: 5000 };

describe('ServiceClient', () => {
  let server: Awaited<ReturnType<typeof remote>>;
  before(async () => (server = await remote()));
  after(() => server.close());

  const client = (overrides: Partial<ConstructorParameters<typeof ServiceClient<{ ok: boolean }>>[0]> = {}) =>
    new ServiceClient<{ ok: boolean }>({
      service: 'remote',
      baseUrl: server.url,
      fallback: () => FALLBACK,
      log,
      retry: { delayMs: 5, attemptTimeoutMs: 200, deadlineMs: 1000 },
      breaker: { resetTimeoutMs: 300, volumeThreshold: 3 },
      ...overrides,
    });

  it('GETs JSON in a CLIENT span carrying B3 and W3C context downstream', async () => {
    server.set(() => ({ status: 200, body: { ok: true } }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    const c = client({ retry: PATIENT });
    assert.deepEqual(await c.fetchJson('/thing?x=1', parent, 'getthing'), { ok: true });
    parent.finish();
    c.close();
    const call = spans.find((s) => s.name === 'getthing');
    assert.equal(call?.kind, 'CLIENT');
    assert.equal(call?.remoteEndpoint.serviceName, 'remote');
    assert.equal(call?.tags['http.path'], '/thing');
    assert.equal(call?.tags['http.status_code'], '200');
    const headers = server.requests[0]!.headers;
    assert.equal(headers['x-b3-traceid'], parent.traceId);
    assert.equal(headers['x-b3-spanid'], call?.id);
    assert.equal(headers['x-b3-parentspanid'], parent.spanId);
    assert.equal(headers.traceparent, `00-${parent.traceId}-${call?.id}-01`);
  });

  it('calls each path as resolved against the base URL, also after more distinct paths than it keeps resolved', async () => {
    server.set((request) => ({ status: 200, body: { ok: true, url: request.url } }));
    server.requests.length = 0;
    const { tracing: t } = tracing();
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    const c = client({ retry: PATIENT });
    // The client keeps 1,024 resolved paths: 1,100 distinct ones, then the first ones again.
    const paths = [...Array.from({ length: 1100 }, (_, i) => `/accounts/${i}?n=${i}`), '/accounts/0?n=0', '/accounts/1?n=1'];
    for (let i = 0; i < paths.length; i += 50) {
      await Promise.all(paths.slice(i, i + 50).map((path) => c.fetchJson(path, parent, 'getaccount')));
    }
    parent.finish();
    c.close();
    // Calls in flight together may arrive in any order.
    assert.deepEqual(server.requests.map((request) => request.url).sort(), [...paths].sort());
  });

  it('retries a 5xx up to three attempts, each its own CLIENT span, then falls back', async () => {
    server.set(() => ({ status: 503 }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    const c = client();
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    parent.finish();
    c.close();
    assert.equal(server.requests.length, 3);
    const attempts = spans.filter((s) => s.name === 'call');
    assert.equal(attempts.length, 3);
    assert.deepEqual(attempts.map((s) => s.tags['retry.attempt']), [undefined, '2', '3']);
    for (const attempt of attempts) assert.equal(attempt.tags.error, 'remote answered 503');
    const root = spans.find((s) => s.name === 'root');
    assert.match(root?.tags['fallback.remote'], /503/);
  });

  it('never retries a 4xx', async () => {
    server.set(() => ({ status: 404 }));
    server.requests.length = 0;
    const { tracing: t } = tracing();
    const c = client();
    assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), FALLBACK);
    c.close();
    assert.equal(server.requests.length, 1);
  });

  it('a 4xx does not count against the service', async () => {
    server.set(() => ({ status: 404 }));
    const { tracing: t } = tracing();
    const c = client();
    // Well past the volume threshold (3): were 4xx failures, 100 % of them would open the breaker.
    for (let i = 0; i < 6; i++) assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), FALLBACK);
    assert.equal(c.state, 'closed');
    c.close();
  });

  it('opens after failures, fails fast while open, half-opens and closes when the service returns', async () => {
    server.set(() => ({ status: 500 }));
    const { spans, tracing: t } = tracing();
    const c = client({ retry: { attempts: 1, delayMs: 1, attemptTimeoutMs: 200, deadlineMs: 500 } });
    for (let i = 0; i < 3; i++) {
      const failing = t.rootSpan(`failing${i}`);
      await c.fetchJson('/x', failing, 'call');
      failing.finish();
    }
    assert.equal(c.state, 'open');
    const annotations = (name: string) => spans.find((s) => s.name === name)?.annotations?.map((a: any) => a.value);
    assert.deepEqual(annotations('failing0'), ['remote fallback: remote answered 500'], 'no state change, no annotation of it');
    // The call whose failure opened the breaker failed for its own reason, not for the open breaker.
    assert.deepEqual(annotations('failing2'), ['remote fallback: remote answered 500', 'remote circuit breaker open']);
    assert.equal(spans.find((s) => s.name === 'failing2')?.tags['fallback.remote'], 'remote answered 500');

    server.requests.length = 0;
    const parent = t.rootSpan('while-open');
    const started = performance.now();
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    const elapsed = performance.now() - started;
    parent.finish();
    assert.equal(server.requests.length, 0, 'no request while open');
    assert.ok(elapsed < 50, `fails fast (${elapsed.toFixed(1)} ms)`);
    assert.equal(spans.find((s) => s.name === 'while-open')?.tags['fallback.remote'], 'circuit breaker open');

    server.set(() => ({ status: 200, body: { ok: true } }));
    await until(() => c.state === 'half-open', 5000, 'the breaker to half-open after its 300 ms reset');
    const probe = t.rootSpan('probe');
    assert.deepEqual(await c.fetchJson('/x', probe, 'call'), { ok: true });
    probe.finish();
    assert.equal(c.state, 'closed');
    assert.ok(spans.find((s) => s.name === 'probe')?.annotations.some((a: any) => a.value === 'remote circuit breaker closed'));
    c.close();
  });

  it('times out a hanging service within the attempt timeout', async () => {
    server.set(() => 'hang');
    const { spans, tracing: t } = tracing();
    const c = client({ retry: { attempts: 2, delayMs: 1, attemptTimeoutMs: 100, deadlineMs: 1000 } });
    const started = performance.now();
    assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), FALLBACK);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 900, `two attempts of 100 ms (${elapsed.toFixed(0)} ms)`);
    c.close();
    const attempts = spans.filter((s) => s.name === 'call');
    assert.equal(attempts.length, 2);
    for (const attempt of attempts) {
      assert.equal(attempt.tags['aborted'], 'attempt timeout');
      assert.equal(attempt.tags.error, 'attempt timeout: attempt aborted after 100 ms');
    }
  });

  it('bounds each attempt by what is left of the deadline, aborting the attempt in flight', async () => {
    // Each answer takes 300 ms: attempts of 200 ms time out; the third gets only what is left of 450 ms.
    server.set(() => ({ status: 200, body: { ok: true }, delayMs: 300 }));
    server.requests.length = 0;
    server.abandoned.length = 0;
    const { spans, tracing: t } = tracing();
    const c = client({ retry: { attempts: 3, delayMs: 5, attemptTimeoutMs: 200, deadlineMs: 450 } });
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    const started = performance.now();
    assert.deepEqual(await c.fetchJson('/slow', parent, 'call'), FALLBACK);
    const elapsed = performance.now() - started;
    parent.finish();
    c.close();
    const attempts = spans.filter((s) => s.name === 'call');
    assert.equal(attempts.length, 3);
    assert.deepEqual(attempts.map((s) => s.tags['aborted']), ['attempt timeout', 'attempt timeout', 'deadline']);
    const third = attempts[2]!;
    assert.ok(third.duration! < 200_000, `the third attempt had only the rest of the deadline, not 200 ms (${third.duration} µs)`);
    assert.ok(elapsed < 3 * 200, `the call ended at its deadline, before three whole attempts (${elapsed.toFixed(0)} ms)`);
    assertNoSpanOutlivesItsParent(spans);
    await until(() => server.abandoned.length === 3, 2000, 'the server to see all three attempts abandoned');
  });

  it('aborts the attempt in flight at the deadline, ends its span before the caller\'s, and counts it against the service', async () => {
    server.set(() => 'hang');
    const { spans, tracing: t } = tracing();
    // One attempt allowed 1 s, but the whole call only 150 ms.
    const c = client({ retry: { attempts: 1, delayMs: 1, attemptTimeoutMs: 1000, deadlineMs: 150 } });
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    const started = performance.now();
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    const elapsed = performance.now() - started;
    parent.finish();
    assert.ok(elapsed < 1000, `answered at the deadline, not after the attempt's 1 s (${elapsed.toFixed(0)} ms)`);
    const [attempt] = spans.filter((s) => s.name === 'call');
    assert.equal(attempt?.tags['aborted'], 'deadline');
    assert.match(String(attempt?.tags.error), /^deadline: attempt aborted after 1\d\d ms$/);
    assert.match(String(spans.find((s) => s.name === 'root')?.tags['fallback.remote']), /^deadline: attempt aborted after/);
    assertNoSpanOutlivesItsParent(spans);
    // Calls that run out of time are failures of the service, like 5xx answers: the third opens the breaker.
    for (let i = 0; i < 2; i++) await c.fetchJson('/x', t.rootSpan(`late${i}`), 'call');
    assert.equal(c.state, 'open');
    c.close();
  });

  it('retries within a budget of the recent calls, and says so on the span when it refuses', async () => {
    server.set(() => ({ status: 503 }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const c = client({
      retry: { attempts: 3, delayMs: 1, attemptTimeoutMs: 200, deadlineMs: 1000 },
      breaker: { volumeThreshold: 1000 },
      retryBudget: { percent: 20, minPerSecond: 0, windowMs: 10_000 },
    });
    for (let i = 0; i < 10; i++) {
      const parent = t.rootSpan(`r${i}`, { kind: 'SERVER' });
      assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
      parent.finish();
    }
    c.close();
    // 10 calls fund 2 retries (20 %); without a budget there would be 20.
    assert.equal(server.requests.length, 12);
    const refusals = spans.flatMap((s) => (s.annotations ?? []).filter((a: any) => a.value === 'remote retry refused: retry budget spent'));
    assert.ok(refusals.length >= 8, `the refused retries are shown (${refusals.length})`);
  });

  it('logs a state change with the trace ids of the request during which it happened', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = createLogger({ service: 'test' }, { write: (line) => lines.push(JSON.parse(line)) });
    server.set(() => ({ status: 500 }));
    const { tracing: t } = tracing();
    const c = client({ log: capture, retry: { attempts: 1, delayMs: 1, attemptTimeoutMs: 200, deadlineMs: 500 } });
    const failing = Array.from({ length: 3 }, (_, i) => t.rootSpan(`f${i}`, { kind: 'SERVER' }));
    for (const span of failing) await c.fetchJson('/x', span, 'call');
    const opened = lines.find((l) => l['state'] === 'open');
    assert.equal(opened?.['traceId'], failing[2]!.traceId, 'the third failure opened it');
    assert.equal(opened?.['spanId'], failing[2]!.spanId);

    server.set(() => ({ status: 200, body: { ok: true } }));
    await until(() => c.state === 'half-open', 5000, 'the breaker to half-open');
    const probe = t.rootSpan('probe', { kind: 'SERVER' });
    await c.fetchJson('/x', probe, 'call');
    const closed = lines.find((l) => l['state'] === 'closed');
    assert.equal(closed?.['traceId'], probe.traceId);
    assert.equal(closed?.['spanId'], probe.spanId);
    c.close();
    // Half-open comes from the reset timer: logged, with no request's ids.
    assert.deepEqual(
      lines.filter((l) => l['msg'] === 'circuit breaker changed state').map((l) => [l['level'], l['service'], l['remoteService'], l['state'], 'traceId' in l]),
      [['warn', 'test', 'remote', 'open', true], ['warn', 'test', 'remote', 'half-open', false], ['warn', 'test', 'remote', 'closed', true]],
    );
  });

  it('logs each attempt and the fallback at debug, with the ids of their spans, and nothing above debug', async () => {
    server.set(() => ({ status: server.requests.length === 1 ? 503 : 500 }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const lines: any[] = [];
    const debugLog = createLogger({ service: 'test' }, { level: 'debug', write: (line) => lines.push(JSON.parse(line)) });
    const c = client({ log: debugLog, retry: { attempts: 2, delayMs: 1, attemptTimeoutMs: 200, deadlineMs: 1000 } });
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    parent.finish();
    c.close();
    const attempts = spans.filter((s) => s.name === 'call');
    const attemptLines = lines.filter((l) => l.msg === 'call attempt');
    assert.deepEqual(
      attemptLines.map((l) => [l.attempt, l.attempts, l.status, l.error, l.spanId, l.traceId]),
      [
        [1, 2, 503, 'remote answered 503', attempts[0]!.id, parent.traceId],
        [2, 2, 500, 'remote answered 500', attempts[1]!.id, parent.traceId],
      ],
    );
    for (const line of attemptLines) assert.equal(typeof line.durationMs, 'number');
    const fallback = lines.find((l) => l.msg === 'fallback');
    assert.deepEqual([fallback?.traceId, fallback?.spanId, fallback?.service, fallback?.remoteService], [parent.traceId, parent.spanId, 'test', 'remote']);
    for (const line of attemptLines) assert.deepEqual([line.service, line.remoteService], ['test', 'remote'], 'the logging service, and the one called');
    assert.match(fallback?.reason, /500/);

    const quiet: string[] = [];
    const infoLog = createLogger({ service: 'test' }, { level: 'info', write: (line) => quiet.push(line) });
    const d = client({ log: infoLog, retry: { attempts: 2, delayMs: 1, attemptTimeoutMs: 200, deadlineMs: 1000 } });
    await d.fetchJson('/x', t.rootSpan('r'), 'call');
    d.close();
    assert.deepEqual(quiet, []);
  });

  it('sends a JSON body with its content type and method, and a GET with neither', async () => {
    server.set(() => ({ status: 200, body: { ok: true } }));
    server.requests.length = 0;
    server.bodies.length = 0;
    const { spans, tracing: t } = tracing();
    const c = client({ retry: PATIENT });
    assert.deepEqual(await c.fetchJson('/orders', t.rootSpan('r'), 'post', { method: 'POST', json: { id: 7, items: ['a'] } }), { ok: true });
    assert.deepEqual(await c.fetchJson('/orders/7', t.rootSpan('r'), 'get'), { ok: true });
    c.close();
    await until(() => server.bodies.length === 2, 2000, 'both bodies to be read');
    const [post, get] = server.requests;
    assert.deepEqual([post!.method, post!.headers['content-type'], post!.headers.accept, server.bodies[0]], ['POST', 'application/json', 'application/json', '{"id":7,"items":["a"]}']);
    assert.deepEqual([get!.method, get!.headers['content-type'], get!.headers.accept, server.bodies[1]], ['GET', undefined, 'application/json', '']);
    assert.deepEqual(spans.map((s) => [s.name, s.tags['http.method']]), [['post', 'POST'], ['get', 'GET']]);
  });

  it('does not retry when the deadline leaves no time for the pause before another attempt', async () => {
    // The first answer takes 350 ms of a 1 s deadline: what is left is less than the 800 ms pause before a retry.
    server.set(() => ({ status: 503, delayMs: 350 }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const c = client({ retry: { attempts: 3, delayMs: 800, attemptTimeoutMs: 2000, deadlineMs: 1000 } });
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    parent.finish();
    c.close();
    assert.equal(server.requests.length, 1);
    assert.equal(spans.filter((s) => s.name === 'call').length, 1);
    assert.equal(spans.find((s) => s.name === 'root')?.tags['fallback.remote'], 'remote answered 503');
  });

  it('sends no retry whose pause ended past the deadline, however late its timer fired', async () => {
    // The first answer (503) comes at once and leaves time for the pause; then the event loop is
    // held past the deadline, so the pause's timer fires after it.
    server.set(() => ({ status: 503 }));
    server.requests.length = 0;
    const exporter = createMemoryExporter();
    const holdingExporter = {
      logSpan(span: Parameters<typeof exporter.logSpan>[0]) {
        exporter.logSpan(span);
        // Runs once the first attempt's failure has been weighed and the pause begun.
        if (span.name === 'call') setTimeout(() => busyFor(300), 0);
      },
    };
    const t = new Tracing({ serviceName: 'caller', exporter: holdingExporter });
    const c = client({ retry: { attempts: 2, delayMs: 20, attemptTimeoutMs: 200, deadlineMs: 200 } });
    const parent = t.rootSpan('root', { kind: 'SERVER' });
    assert.deepEqual(await c.fetchJson('/x', parent, 'call'), FALLBACK);
    parent.finish();
    c.close();
    assert.equal(server.requests.length, 1, 'the retry was not sent');
    assert.equal(exporter.spans.filter((s) => s.name === 'call').length, 1);
    const root = exporter.spans.find((s) => s.name === 'root');
    assert.ok(root?.annotations?.some((a: { value: string }) => a.value === 'remote retry not sent: deadline reached'), JSON.stringify(root?.annotations));
    assert.equal(root?.tags['fallback.remote'], 'deadline: 200 ms passed before attempt 2 could start');
  });

  it('closes its kept-alive connections and its breaker on close', async () => {
    const own = await remote();
    try {
      const { tracing: t } = tracing();
      const c = client({ baseUrl: own.url, retry: PATIENT });
      assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), { ok: true });
      assert.equal(await own.connections(), 1, 'the connection is kept alive after the call');
      c.close();
      await until(async () => (await own.connections()) === 0, 2000, 'the client to close its connection');
      assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), FALLBACK, 'a closed client only falls back');
      assert.equal(own.requests.length, 1);
    } finally {
      await own.close();
    }
  });

  it('logs a successful attempt at debug with its status and no error', async () => {
    server.set(() => ({ status: 200, body: { ok: true } }));
    const lines: any[] = [];
    const debugLog = createLogger({ service: 'test' }, { level: 'debug', write: (line) => lines.push(JSON.parse(line)) });
    const { tracing: t } = tracing();
    const c = client({ log: debugLog, retry: PATIENT });
    assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call'), { ok: true });
    c.close();
    const attempt = lines.find((l) => l.msg === 'call attempt');
    assert.deepEqual([attempt?.status, attempt?.attempt, 'error' in attempt], [200, 1, false]);
  });

  it('neither retries nor blames the service for a body it cannot serialize', async () => {
    server.set(() => ({ status: 200, body: { ok: true } }));
    server.requests.length = 0;
    const { spans, tracing: t } = tracing();
    const c = client();
    // Well past the volume threshold (3): were these failures of the service, they would open the breaker.
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await c.fetchJson('/x', t.rootSpan('r'), 'call', { method: 'POST', json: { n: 1n } }), FALLBACK);
    }
    assert.equal(c.state, 'closed');
    c.close();
    assert.equal(server.requests.length, 0, 'nothing sent');
    const attempts = spans.filter((s) => s.name === 'call');
    assert.equal(attempts.length, 4, 'one attempt per call');
    for (const attempt of attempts) assert.match(attempt.tags.error ?? '', /^request body: .*BigInt/);
  });
});
