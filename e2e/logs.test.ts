/**
 * Logs that join traces, from the real services at LOG_LEVEL=debug: one access line per
 * request in every service, the outgoing attempts and the outbox's moves, each line
 * carrying the trace id and the id of the very span it speaks of; probes write nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICES, startService } from '../tools/landscape.ts';
import { until } from '../tools/wait.ts';
import { isCompleteAccountTrace, service, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';

describe('logs at LOG_LEVEL=debug', () => {
  let landscape: TestLandscape;
  let accounts: string;
  type Line = Record<string, unknown> & { service: string };
  const linesOf = (traceId: string): Line[] =>
    landscape.logs.filter((l) => l.json?.traceId === traceId).map((l) => ({ ...l.json!, service: l.service }));

  before(async () => {
    landscape = await startTestLandscape('node', { env: { LOG_LEVEL: 'debug' } });
    accounts = landscape.services.accountservice.url;
    await until(async () => (await fetch(`${accounts}/health`)).status === 200, 15_000, 'accountservice UP (broker connected)');
  });
  after(() => landscape?.close());

  it('tell the story of GET /accounts/10000, each line naming its span in the trace', async () => {
    const response = await fetch(`${accounts}/accounts/10000`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const traceId = traceIdOf(response);
    const spans = await waitForTrace(landscape.collector.url, traceId, (s) => isCompleteAccountTrace(s, true));
    // Each service's lines arrive in order on its own pipe: an access line comes after the lines written while handling.
    const last = [
      ['accountservice', 'request'],
      ['quotes-service', 'request'],
      ['imageservice', 'request'],
      ['accountservice', 'outbox message published'],
      ['vipservice', 'VIP notification received'],
    ];
    const arrived = () => last.every(([svc, msg]) => linesOf(traceId).some((l) => l.service === svc && l.msg === msg));
    await until(arrived, 10_000, 'the lines of every service');
    const lines = linesOf(traceId);

    const spanOf = (svc: string, predicate: (s: (typeof spans)[number]) => boolean) => spans.find((s) => service(s) === svc && predicate(s))!;
    const lineOf = (svc: string, msg: string) => lines.filter((l) => l.service === svc && l.msg === msg);
    // One access line per service the request went through, with the id of that service's SERVER span.
    const routes = [['accountservice', '/accounts/:accountId'], ['quotes-service', '/api/quote'], ['imageservice', '/accounts/:accountId']] as const;
    for (const [svc, route] of routes) {
      const access = lineOf(svc, 'request');
      assert.equal(access.length, 1, `one access line from ${svc}`);
      assert.deepEqual([access[0]!.level, access[0]!.method, access[0]!.route, access[0]!.status], ['info', 'GET', route, 200]);
      assert.equal(access[0]!.spanId, spanOf(svc, (s) => s.kind === 'SERVER').id, `${svc}'s access line names its SERVER span`);
      assert.equal(typeof access[0]!.durationMs, 'number');
    }
    // Each outgoing attempt names its CLIENT span; the outbox's moves name the PRODUCER span; the consumer its CONSUMER span.
    for (const name of ['getquote', 'getimageurl']) {
      const attempts = spans.filter((s) => s.name === name).map((s) => s.id!).sort();
      const logged = lineOf('accountservice', 'call attempt').filter((l) => attempts.includes(l.spanId as string));
      assert.deepEqual(logged.map((l) => l.spanId).sort(), attempts, `one line per ${name} attempt`);
    }
    const producer = spanOf('accountservice', (s) => s.kind === 'PRODUCER');
    for (const msg of ['outbox message committed', 'outbox message published']) {
      assert.deepEqual(lineOf('accountservice', msg).map((l) => l.spanId), [producer.id], msg);
    }
    assert.equal(lineOf('vipservice', 'VIP notification received')[0]?.spanId, spanOf('vipservice', (s) => s.kind === 'CONSUMER').id);
    // Every line of the request names a span of its trace: a log search and a trace search meet.
    const ids = new Set(spans.map((s) => s.id));
    for (const line of lines) assert.ok(ids.has(line.spanId as string), `${line.service} "${line.msg}" names a span of the trace`);
  });

  it('log a 4xx at info with the reason, and nothing for probes', async () => {
    const response = await fetch(`${accounts}/accounts/20000`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
    const traceId = traceIdOf(response);
    await until(() => linesOf(traceId).some((l) => l.msg === 'request'), 5000, 'the access line');
    assert.deepEqual(
      linesOf(traceId).map((l) => [l.service, l.level, l.msg, l.status, l.error]),
      [['accountservice', 'info', 'request', 404, 'no account 20000']],
    );

    const before = landscape.logs.length;
    for (const name of SERVICES) {
      for (const probe of ['/health', '/health/ready', '/health/live']) {
        const answer = await fetch(`${landscape.services[name].url}${probe}`);
        await answer.body?.cancel();
        assert.equal(answer.headers.get('traceresponse'), null, `${name} ${probe} is not traced`);
      }
    }
    // A request after the probes: its line coming through means the probes' would have come before it.
    const last = await fetch(`${accounts}/accounts/20001`);
    await last.body?.cancel();
    await until(() => linesOf(traceIdOf(last)).length > 0, 5000, 'the line after the probes');
    const logged = landscape.logs.slice(before).filter((l) => l.json?.msg === 'request');
    assert.deepEqual(logged.map((l) => l.json!.path), ['/accounts/20001']);
  });
});

describe('logs at LOG_LEVEL=warn', () => {
  it('still say where each runtime listens, so launchers start it, and write no line at info otherwise', async () => {
    for (const runtime of ['node', 'deno'] as const) {
      const lines: string[] = [];
      const quotes = await startService('quotes-service', { PORT: '0', LOG_LEVEL: 'warn', ZIPKIN_URL: 'http://127.0.0.1:9' }, { runtime, onLog: (_name, line) => lines.push(line) });
      try {
        const response = await fetch(`${quotes.url}/api/quote`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      } finally {
        assert.equal(await quotes.stop(), 0);
      }
      const info = lines.filter((line) => line.includes('"level":"info"')).map((line) => JSON.parse(line).msg);
      assert.deepEqual(info, ['listening'], `${runtime}: ${lines.join('\n')}`);
    }
  });
});
