/**
 * Faults injected for real: a downstream service failing (5xx), dead (killed) or hung
 * (stopped); and on the broker at AMQP_URL, what operators and other clients do to the
 * landscape's own queue: delete it under the consumer, make it with other arguments,
 * deliver a message again, write trace headers their way. accountservice keeps
 * answering, the breakers open, fail fast and close again, and no VIP notification is
 * lost or handled twice. (Broker outages: broker-outage.test.ts, on a broker of its own.)
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import jpeg from 'jpeg-js';
import { deadLetterQueue } from '../lib/messaging.ts';
import { Operator } from '../lib/messaging.testing.ts';
import type { ServiceName } from '../tools/landscape.ts';
import { AMQP_URL, only, startTestLandscape, testQueueName, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';
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

  before(async () => {
    landscape = await startTestLandscape('node', {
      env: { TESTABILITY_ENABLED: 'true' },
      serviceEnv: {
        accountservice: {
          BREAKER_RESET_TIMEOUT_MS: String(BREAKER_RESET_MS),
          BREAKER_VOLUME_THRESHOLD: '3',
          // Two attempts fit in the deadline and a third gets only what is left of it.
          RETRY_ATTEMPT_TIMEOUT_MS: '400',
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
    await landscape.services['quotes-service'].stop('SIGKILL');
    // The breaker's window still holds the successes before: it opens once failures reach half.
    for (let i = 0; i < 30 && (await breakerOf('quotes-service')) !== 'open'; i++) {
      const answer = await read();
      assert.equal(answer.status, 200);
      assert.equal(answer.body.quote.quote, 'May the source be with you, always.');
    }
    assert.equal(await breakerOf('quotes-service'), 'open');
    await landscape.restart('quotes-service');
    await until(async () => (await read()).body.quote.ipAddress !== 'circuit-breaker', BREAKER_RESET_MS + 5000, 'quotes to come back');
    assert.equal(await breakerOf('quotes-service'), 'closed');
  });

  it('answers within the deadline while imageservice hangs, each attempt its own CLIENT span', async (t) => {
    const images = landscape.services.imageservice;
    images.process.kill('SIGSTOP');
    try {
      const answer = await read();
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.imageData, { url: `${accounts}/placeholder.jpg`, servedBy: 'fallback' });
      // The fallback's image opens: accountservice serves it itself.
      const placeholder = await fetch(answer.body.imageData.url);
      assert.equal(placeholder.status, 200);
      assert.equal(placeholder.headers.get('content-type'), 'image/jpeg');
      const { width, height } = jpeg.decode(new Uint8Array(await placeholder.arrayBuffer()));
      assert.ok(width > 0 && height > 0, 'a JPEG that decodes');
      t.diagnostic(`answer while imageservice hangs: ${answer.ms.toFixed(0)} ms (deadline 1000 ms)`);
      assert.ok(answer.ms < 3000, 'bounded by the deadline');
      // Attempt spans end before their server span: once it is there, they are.
      const spans = await waitForTrace(landscape.collector.url, answer.traceId, (s) => s.some((x) => x.kind === 'SERVER' && !x.parentId));
      const attempts = spans.filter((s) => s.name === 'getimageurl');
      assert.ok(attempts.length >= 2 && attempts.length <= 3, `bounded retries, one span each (${attempts.length})`);
      for (const attempt of attempts) assert.ok(attempt.tags?.error, 'each timed-out attempt is marked failed');
      // The last attempt got what was left of the deadline, and was aborted when it passed.
      assert.equal(attempts.at(-1)?.tags?.['aborted'], 'deadline');
      for (const attempt of attempts.slice(0, -1)) assert.equal(attempt.tags?.['aborted'], 'attempt timeout');
    } finally {
      images.process.kill('SIGCONT');
    }
    await until(async () => (await read()).body.imageData.servedBy !== 'fallback', BREAKER_RESET_MS + 5000, 'images to come back');
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
      // The right fields, but no account id and no time in them (the account id as long as a message may be).
      await send(JSON.stringify({ accountId: 'x'.repeat(100_000), readAt: new Date().toISOString() }), 'poison-3');
      await send(JSON.stringify({ accountId: '10000', readAt: 'yesterday' }), 'poison-4');
      await until(async () => (await channel.checkQueue(deadLetterQueue(landscape.vipQueue))).messageCount === 4, 10_000, 'four dead letters');
      // The broker may count a dead letter before the line saying so has come through vipservice's output.
      const handled = () => landscape.logs.filter((l) => l.service === 'vipservice' && /^poison-/.test(String(l.json?.messageId)));
      await until(() => handled().length >= 4, 10_000, 'a line for each dead letter');
      assert.deepEqual(handled().map((l) => l.json!.msg), Array(4).fill('message rejected to the dead-letter queue'));

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

  describe('the VIP queue, as operators and other clients treat it', () => {
    const vipBody = () => JSON.stringify({ accountId: '10000', readAt: new Date().toISOString() });
    const vipLogs = (msg: string) => landscape.logs.filter((l) => l.service === 'vipservice' && l.json?.msg === msg).map((l) => l.json!);
    const received = () => new Set(vipLogs('VIP notification received').map((line) => line.traceId));
    const healthOf = async (name: ServiceName, path = '/health') => {
      const response = await fetch(`${landscape.services[name].url}${path}`);
      return { status: response.status, body: (await response.json()) as { status: string; reason?: string; details?: any } };
    };
    /** Reads the VIP account `count` times; every answer 200; their trace ids, in order. */
    const readVip = async (count: number) => {
      const traceIds: string[] = [];
      for (let i = 0; i < count; i++) {
        const answer = await read('10000');
        assert.equal(answer.status, 200);
        assert.notEqual(answer.body.quote.ipAddress, 'circuit-breaker');
        traceIds.push(answer.traceId);
      }
      return traceIds;
    };
    /** Waits until vipservice logged every one of `traceIds`, then checks they came in that order, once each. */
    const allReceived = async (traceIds: string[], what: string) => {
      await until(() => traceIds.every((id) => received().has(id)), 30_000, `${what}: every notification at vipservice`);
      const order = vipLogs('VIP notification received').map((l) => l.traceId).filter((id) => traceIds.includes(id as string));
      assert.deepEqual(order, traceIds, `${what}: ${traceIds.length} of ${traceIds.length}, in order, once each`);
    };
    let operator: Operator;
    before(async () => {
      operator = await Operator.connect(AMQP_URL);
    });
    after(() => operator?.close());

    it('a queue deleted under the consumer: the gap shows in /health, and every notification sent after it arrives once the queue is back', async (t) => {
      const queue = landscape.vipQueue;
      const holder = await Operator.connect(AMQP_URL);
      let gapSent: string[];
      try {
        // Deleted, and its name held (exclusive, refusing every message) so nothing can declare it: the gap lasts until released.
        await holder.hold(queue);
        await until(async () => (await healthOf('vipservice')).status === 503, 10_000, 'vipservice DOWN');
        const down = await healthOf('vipservice');
        assert.match(down.body.reason ?? '', new RegExp(`broker: queue ${queue.replace(/\./g, '\\.')}: consumer cancelled by RabbitMQ|queue ${queue.replace(/\./g, '\\.')} not usable: RESOURCE_LOCKED`));
        const [cancelled, ...again] = vipLogs('consumer cancelled by RabbitMQ (consumer cancel notification); declaring the queue again');
        assert.deepEqual(again, [], 'logged once');
        assert.equal(cancelled?.queue, queue);
        assert.equal(cancelled?.operation, 'basic.cancel');

        gapSent = await readVip(10);
        const accounts = await healthOf('accountservice');
        assert.equal(accounts.body.details.outbox.pending, 10, 'kept in the outbox (the held queue refuses them)');
        assert.equal((await healthOf('accountservice', '/health/ready')).status, 200, 'accountservice stays ready');
      } finally {
        await holder.close();
      }
      await allReceived(gapSent, 'after the gap');
      assert.equal((await healthOf('vipservice')).status, 200);
      // vipservice may have a notification before its entry leaves the outbox.
      await until(async () => (await healthOf('accountservice')).body.details.outbox.pending === 0, 10_000, 'the outbox empty');
      assert.ok(vipLogs('consuming again').length >= 1);

      // Deleted with nothing holding it: both sides declare it again at once.
      await operator.delete(queue);
      const afterDelete = await readVip(10);
      await allReceived(afterDelete, 'after a plain delete');
      t.diagnostic(`notifications sent while the queue was gone: ${gapSent.length} + ${afterDelete.length}, all delivered`);
    });

    it('a notification delivered again after vipservice was killed (SIGKILL) is recognised by the new process: the inbox is on disk', async () => {
      const messageId = `inbox-${randomUUID()}`;
      const lines = () => landscape.logs.filter((l) => l.service === 'vipservice' && l.json?.messageId === messageId).map((l) => l.json!);
      await operator.publish(landscape.vipQueue, vipBody(), { messageId, contentType: 'application/json' });
      await until(() => lines().length === 1, 10_000, 'handled');
      // Its CONSUMER span ends once the id is on disk and the acknowledgement sent.
      await waitForTrace(landscape.collector.url, String(lines()[0]!.traceId), (s) => s.some((x) => x.kind === 'CONSUMER'));
      await landscape.restart('vipservice', { signal: 'SIGKILL' });
      // What RabbitMQ does when an acknowledgement is lost: the same message, same id, again.
      await operator.publish(landscape.vipQueue, vipBody(), { messageId, contentType: 'application/json' });
      // The copy published again is the second delivery not marked redelivered (a lost acknowledgement may add one that is).
      const copies = () => lines().filter((l) => l.redelivered === false);
      await until(() => copies().length === 2, 10_000, 'the second delivery');
      assert.equal(copies()[1]!.msg, 'duplicate VIP notification ignored');
      assert.equal(lines().filter((l) => l.msg === 'VIP notification received').length, 1, 'handled once');
    });

    it('reads trace context from AMQP headers as other clients write them', async () => {
      type Expected = 'recorded' | 'debug' | 'not sampled';
      const cases: Array<[string, (traceId: string, spanId: string) => Record<string, unknown>, Expected]> = [
        ['b3 as a long string (Java, Go, .NET, Python)', (trace, span) => ({ b3: `${trace}-${span}-1` }), 'recorded'],
        ['b3 as a byte array (Go []byte, Python bytes)', (trace, span) => ({ b3: Buffer.from(`${trace}-${span}-1`) }), 'recorded'],
        ['traceparent as a byte array', (trace, span) => ({ traceparent: Buffer.from(`00-${trace}-${span}-01`) }), 'recorded'],
        ['X-B3-Flags as an integer', (trace, span) => ({ 'x-b3-traceid': trace, 'x-b3-spanid': span, 'x-b3-flags': { '!': 'long', value: 1 } }), 'debug'],
        ['X-B3-Sampled as an integer', (trace, span) => ({ 'X-B3-TraceId': trace, 'X-B3-SpanId': span, 'X-B3-Sampled': { '!': 'int', value: 0 } }), 'not sampled'],
        ['X-B3-Sampled as a boolean', (trace, span) => ({ 'X-B3-TraceId': trace, 'X-B3-SpanId': span, 'X-B3-Sampled': false }), 'not sampled'],
      ];
      const unsampled: string[] = [];
      for (const [name, headers, expected] of cases) {
        const [traceId, spanId] = [randomBytes(16).toString('hex'), randomBytes(8).toString('hex')];
        await operator.publish(landscape.vipQueue, vipBody(), { messageId: randomUUID(), headers: headers(traceId, spanId) });
        if (expected === 'not sampled') {
          await until(() => received().has(traceId), 10_000, `${name}: handled, in the trace it came with`);
          unsampled.push(traceId);
          continue;
        }
        const spans = await waitForTrace(landscape.collector.url, traceId, (s) => s.some((x) => x.kind === 'CONSUMER'));
        const consumer = only(spans, (s) => s.kind === 'CONSUMER', `consumer span (${name})`);
        assert.equal(consumer.parentId, spanId, name);
        assert.equal(consumer.debug ?? false, expected === 'debug', name);
      }
      // A recorded message after the unsampled ones: once its span is in, any of theirs would be too.
      const barrier = randomBytes(16).toString('hex');
      await operator.publish(landscape.vipQueue, vipBody(), { messageId: randomUUID(), headers: { b3: `${barrier}-${randomBytes(8).toString('hex')}-1` } });
      await waitForTrace(landscape.collector.url, barrier, (s) => s.some((x) => x.kind === 'CONSUMER'));
      for (const traceId of unsampled) assert.deepEqual(landscape.collector.store.getTrace(traceId), [], `nothing recorded for ${traceId}`);
    });

    it('a queue that exists with other arguments stops only the VIP path, says what is wrong and how to fix it, and delivers once fixed', async () => {
      const queue = testQueueName();
      await operator.channel.assertQueue(queue, { durable: true }); // as an older version, another tool or the Go landscape made it
      try {
        const refusal = 'queue exists with other arguments; not using it';
        for (const name of ['vipservice', 'accountservice'] as const) await landscape.restart(name, { env: { VIP_QUEUE: queue } });
        const problem = `queue ${queue} exists with another x-dead-letter-exchange than this service declares; delete the queue (rabbitmqctl delete_queue ${queue}; its messages go with it) or set VIP_QUEUE to another name`;
        for (const name of ['vipservice', 'accountservice'] as const) {
          await until(async () => (await healthOf(name)).body.reason?.includes(problem) ?? false, 10_000, `${name} DOWN with the reason`);
          const lines = landscape.logs.filter((l) => l.service === name && l.json?.msg === refusal);
          assert.equal(lines.length, 1, `${name}: one line`);
          assert.equal(lines[0]!.json!.level, 'warn');
          assert.equal(lines[0]!.json!.queue, queue);
          assert.equal(lines[0]!.json!.operation, 'queue.declare');
          assert.equal(lines[0]!.json!.argument, 'x-dead-letter-exchange');
          assert.match(String(lines[0]!.json!.reason), /^PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange'/);
        }
        assert.equal((await healthOf('accountservice', '/health/ready')).status, 200, 'accountservice stays ready');
        const sent = await readVip(5);
        assert.equal((await healthOf('accountservice')).body.details.outbox.pending, 5);
        for (const name of ['vipservice', 'accountservice'] as const) {
          assert.equal(landscape.services[name].process.exitCode, null, `${name} still runs`);
          assert.equal(landscape.logs.filter((l) => l.service === name && l.json?.msg === refusal).length, 1, `${name}: still one line`);
        }

        await operator.delete(queue); // the operator's fix
        await allReceived(sent, 'once the queue is fixed');
        for (const name of ['vipservice', 'accountservice'] as const) assert.equal((await healthOf(name)).status, 200);
      } finally {
        await operator.remove(queue);
      }
    });
  });
});

/**
 * Overload, not failure: quotes-service is saturated (each quote burns CPU, many at once),
 * so attempts time out everywhere and every call would retry. The retry budget keeps the
 * retries to its share of the calls, while every answer is still a 200.
 */
describe('retries under overload', () => {
  const CALLS = 120;
  const CONCURRENCY = 40;
  const BUDGET = { percent: 20, minPerSecond: 1, windowSeconds: 10 };
  let landscape: TestLandscape;

  before(async () => {
    landscape = await startTestLandscape('node', {
      serviceEnv: {
        accountservice: {
          QUOTE_STRENGTH: '100',
          RETRY_ATTEMPT_TIMEOUT_MS: '100',
          RETRY_DEADLINE_MS: '600',
          RETRY_BUDGET_PERCENT: String(BUDGET.percent),
          RETRY_BUDGET_MIN_PER_SECOND: String(BUDGET.minPerSecond),
          RETRY_BUDGET_WINDOW_MS: String(BUDGET.windowSeconds * 1000),
          // The breaker never opens, so every call reaches the budget.
          BREAKER_ERROR_PERCENTAGE: '100',
        },
      },
    });
  });
  after(() => landscape?.close());

  it('keeps retries within the budget while every answer is a 200', async (t) => {
    const accounts = landscape.services.accountservice.url;
    const started = performance.now();
    const traceIds: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CALLS) {
          const id = 10001 + (next++ % 99);
          const response = await fetch(`${accounts}/accounts/${id}`);
          await response.body?.cancel();
          assert.equal(response.status, 200);
          traceIds.push(traceIdOf(response));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const traces = await Promise.all(
      traceIds.map((id) => waitForTrace(landscape.collector.url, id, (s) => s.some((x) => x.kind === 'SERVER' && !x.parentId))),
    );
    const spans = traces.flat();
    const windows = Math.ceil(seconds / BUDGET.windowSeconds);
    const report: string[] = [];
    let refused = 0;
    for (const [name, remote] of [['getquote', 'quotes-service'], ['getimageurl', 'imageservice']] as const) {
      const attempts = spans.filter((s) => s.name === name);
      const calls = attempts.filter((s) => s.tags?.['retry.attempt'] === undefined).length;
      const retries = attempts.length - calls;
      const refusals = spans.flatMap((s) => s.annotations ?? []).filter((a) => a.value === `${remote} retry refused: retry budget spent`).length;
      refused += refusals;
      // Per window: a share of the calls plus the floor; the calls of a run are spread over its windows.
      const allowed = (calls * BUDGET.percent) / 100 + BUDGET.minPerSecond * BUDGET.windowSeconds * windows;
      report.push(`${remote}: ${calls} calls, ${retries} retries (allowed ${allowed}), ${refusals} refused`);
      assert.equal(calls, CALLS, `one first attempt per request to ${remote}`);
      assert.ok(retries <= allowed, `${remote}: ${retries} retries, over the budget of ${allowed}`);
    }
    t.diagnostic(`${CALLS} requests, ${CONCURRENCY} at a time, in ${seconds.toFixed(1)} s; ${report.join('; ')}`);
    assert.ok(refused > 0, 'the overload wanted more retries than the budget allowed');
  });
});

