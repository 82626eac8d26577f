/**
 * Faults injected for real: a downstream service failing (5xx), dead (killed) or hung
 * (stopped), and the broker down. accountservice keeps answering, the breakers open,
 * fail fast and close again, and no VIP notification is lost.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { deadLetterQueue } from '../lib/messaging.ts';
import { startService, type RunningService, type ServiceName } from '../tools/landscape.ts';
import { AMQP_URL, only, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';
import { until } from '../tools/wait.ts';

const BREAKER_RESET_MS = 1000;


describe('resilience under injected faults', () => {
  let landscape: TestLandscape;
  let accounts: string;

  const read = async (id = '10001') => {
    const started = performance.now();
    const response = await fetch(`${accounts}/accounts/${id}`);
    const body = (await response.json()) as any;
    return { status: response.status, body, ms: performance.now() - started, traceId: traceIdOf(response) };
  };
  const health = async () => (await (await fetch(`${accounts}/health`)).json()) as any;
  const breakerOf = async (service: string) => (await health()).details.breakers[service];

  /** Restarts a stopped service on its old port, so accountservice finds it again. */
  const restart = async (name: ServiceName, old: RunningService) => {
    const service = await startService(
      name,
      { ZIPKIN_URL: landscape.collector.url, AMQP_URL, PORT: String(old.port), TESTABILITY_ENABLED: 'true' },
      { onLog: (s, line) => landscape.logs.push({ service: s, line, json: undefined }) },
    );
    landscape.services[name] = service;
    return service;
  };

  before(async () => {
    landscape = await startTestLandscape('node', {
      env: { TESTABILITY_ENABLED: 'true' },
      serviceEnv: {
        accountservice: {
          BREAKER_RESET_TIMEOUT_MS: String(BREAKER_RESET_MS),
          BREAKER_VOLUME_THRESHOLD: '3',
          RETRY_ATTEMPT_TIMEOUT_MS: '300',
          RETRY_DEADLINE_MS: '1000',
        },
      },
    });
    accounts = landscape.services.accountservice.url;
  });
  after(async () => {
    // Whatever a failed test left stopped must run again before the processes are stopped.
    for (const service of Object.values(landscape?.services ?? {})) service.process.kill('SIGCONT');
    await landscape?.close();
  });

  it('falls back while quotes-service answers 5xx, opens, fails fast, and closes when it recovers', async (t) => {
    const quotes = landscape.services['quotes-service'].url;
    await (await fetch(`${quotes}/testability/failing/true`)).body?.cancel();

    const failing = [];
    for (let i = 0; i < 4; i++) failing.push(await read());
    for (const answer of failing) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.quote.ipAddress, 'circuit-breaker', 'the fallback quote');
      assert.notEqual(answer.body.imageData.servedBy, 'fallback', 'imageservice is unaffected');
    }
    assert.equal(await breakerOf('quotes-service'), 'open');

    // While open: no call at all, an answer from the fallback, fast.
    const open = [];
    for (let i = 0; i < 20; i++) open.push(await read());
    const latencies = open.map((a) => a.ms).sort((a, b) => a - b);
    const median = latencies[10]!;
    t.diagnostic(`fallback latency while open: median ${median.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
    assert.ok(median < 100, `fails fast while open (median ${median.toFixed(1)} ms)`);
    const spans = await waitForTrace(landscape.collector.url, open[0]!.traceId, (s) => s.length >= 4);
    assert.equal(spans.filter((s) => s.name === 'getquote').length, 0, 'no CLIENT span: no call was made');
    const server = only(spans, (s) => s.kind === 'SERVER' && s.localEndpoint?.serviceName === 'accountservice', 'server');
    assert.equal(server.tags?.['fallback.quotes-service'], 'circuit breaker open');

    // The service recovers: after the reset timeout one call goes through and closes the breaker.
    await (await fetch(`${quotes}/testability/failing/false`)).body?.cancel();
    const recovering = performance.now();
    await until(async () => (await breakerOf('quotes-service')) === 'half-open', BREAKER_RESET_MS + 5000, 'the breaker to let a trial call through');
    const probe = await read();
    assert.notEqual(probe.body.quote.ipAddress, 'circuit-breaker');
    assert.equal(await breakerOf('quotes-service'), 'closed');
    t.diagnostic(`time to recover after the service returned: ${(performance.now() - recovering).toFixed(0)} ms`);
    const probeSpans = await waitForTrace(landscape.collector.url, probe.traceId, (s) => s.length >= 7);
    const probeServer = only(probeSpans, (s) => s.kind === 'SERVER' && !s.parentId, 'server');
    assert.ok(probeServer.annotations?.some((a) => a.value === 'quotes-service circuit breaker closed'));
  });

  it('falls back while quotes-service is dead and recovers when it is back', async () => {
    const old = landscape.services['quotes-service'];
    await old.stop('SIGKILL');
    // The breaker's window still holds the successes before: it opens once failures reach half.
    for (let i = 0; i < 30 && (await breakerOf('quotes-service')) !== 'open'; i++) {
      const answer = await read();
      assert.equal(answer.status, 200);
      assert.equal(answer.body.quote.quote, 'May the source be with you, always.');
    }
    assert.equal(await breakerOf('quotes-service'), 'open');
    await restart('quotes-service', old);
    await until(async () => (await read()).body.quote.ipAddress !== 'circuit-breaker', BREAKER_RESET_MS + 5000, 'quotes to come back');
    assert.equal(await breakerOf('quotes-service'), 'closed');
  });

  it('answers within the deadline while imageservice hangs, each attempt its own CLIENT span', async (t) => {
    const images = landscape.services.imageservice;
    images.process.kill('SIGSTOP');
    try {
      const answer = await read();
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.imageData, { url: 'http://path.to.placeholder', servedBy: 'fallback' });
      t.diagnostic(`answer while imageservice hangs: ${answer.ms.toFixed(0)} ms (deadline 1000 ms)`);
      assert.ok(answer.ms < 3000, 'bounded by the deadline');
      const spans = await waitForTrace(landscape.collector.url, answer.traceId, (s) => s.some((x) => x.name === 'getimageurl' && x.tags?.error));
      const attempts = spans.filter((s) => s.name === 'getimageurl');
      assert.ok(attempts.length >= 2 && attempts.length <= 3, `bounded retries, one span each (${attempts.length})`);
      for (const attempt of attempts) assert.ok(attempt.tags?.error, 'each timed-out attempt is marked failed');
    } finally {
      images.process.kill('SIGCONT');
    }
    await until(async () => (await read()).body.imageData.servedBy !== 'fallback', BREAKER_RESET_MS + 5000, 'images to come back');
  });

  it('loses no VIP notification across a broker outage, and the consumer joins the original trace', async (t) => {
    const rabbitmqctl = (command: string) => execFileSync('rabbitmqctl', [command], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
    const received = () =>
      new Set(landscape.logs.filter((l) => l.service === 'vipservice' && l.json?.msg === 'VIP notification received').map((l) => l.json!.traceId));

    rabbitmqctl('stop_app');
    const reads = [];
    try {
      await until(async () => (await fetch(`${accounts}/health`)).status === 503, 10_000, 'accountservice to see the broker gone');
      for (let i = 0; i < 20; i++) reads.push(await read('10000'));
      for (const answer of reads) assert.equal(answer.status, 200);
      const slowest = Math.max(...reads.map((r) => r.ms));
      t.diagnostic(`VIP reads while the broker is down: slowest ${slowest.toFixed(0)} ms`);
      const down = await health();
      assert.equal(down.status, 'DOWN');
      assert.ok(down.details.outbox.pending >= 20, `notifications wait in the outbox (${down.details.outbox.pending})`);
    } finally {
      rabbitmqctl('start_app');
    }
    const sent = reads.map((r) => r.traceId);
    await until(() => sent.every((traceId) => received().has(traceId)), 30_000, 'every notification to reach vipservice');
    t.diagnostic(`notifications sent during the outage: ${sent.length}, delivered: ${sent.filter((id) => received().has(id)).length}`);
    assert.equal((await health()).details.outbox.pending, 0);
    const order = landscape.logs
      .filter((l) => l.service === 'vipservice' && l.json?.msg === 'VIP notification received' && sent.includes(l.json.traceId as string))
      .map((l) => l.json!.traceId);
    assert.deepEqual(order, sent, 'delivered in the order they were sent');

    const spans = await waitForTrace(landscape.collector.url, sent[0]!, (s) => s.some((x) => x.kind === 'CONSUMER'));
    const producer = only(spans, (s) => s.kind === 'PRODUCER', 'producer');
    assert.equal(only(spans, (s) => s.kind === 'CONSUMER', 'consumer').parentId, producer.id);
  });

  it('dead-letters poison messages and handles a redelivered message once', async () => {
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createConfirmChannel();
    try {
      await channel.purgeQueue(deadLetterQueue(landscape.vipQueue));
      const send = (content: string, messageId: string) =>
        new Promise<void>((resolve, reject) =>
          channel.sendToQueue(landscape.vipQueue, Buffer.from(content), { persistent: true, messageId }, (error: unknown) => (error ? reject(error) : resolve())),
        );
      await send('not json', 'poison-1');
      await send('{"unexpected":true}', 'poison-2');
      await until(async () => (await channel.checkQueue(deadLetterQueue(landscape.vipQueue))).messageCount === 2, 10_000, 'two dead letters');

      const id = `dup-${Date.now()}`;
      const body = JSON.stringify({ accountId: '10000', readAt: new Date().toISOString() });
      await send(body, id);
      await send(body, id);
      const lines = () => landscape.logs.filter((l) => l.service === 'vipservice' && l.json?.messageId === id);
      await until(() => lines().length >= 2, 10_000, 'both deliveries');
      assert.deepEqual(lines().map((l) => l.json!.msg), ['VIP notification received', 'duplicate VIP notification ignored']);
      assert.equal((await channel.checkQueue(landscape.vipQueue)).messageCount, 0, 'nothing loops in the queue');
    } finally {
      await connection.close();
    }
  });
});
