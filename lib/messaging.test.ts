/**
 * The broker wrapper against real RabbitMQ: the test run's broker with queues of the
 * tests' own, and, for outages and closed connections, a RabbitMQ node of this file's own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPrivateBroker, type PrivateBroker } from '../tools/rabbitmq-node.ts';
import { freePort, until } from '../tools/wait.ts';
import { Broker, deadLetterQueue, extractFromAmqp, producerSpan, queueFromEnv, type DeliveredMessage } from './messaging.ts';
import { AMQP_URL, FAST_BACKOFF, NOTIFICATION, newMessage, observed, Operator, ownQueues, recording, startBroker, testQueue, type Observed } from './messaging.testing.ts';
import { Outbox } from './outbox.ts';
import { ConfigError, envReader } from './config.ts';
import { openStore } from './storage.ts';
import { createMemoryExporter } from './tracing/exporter.ts';
import { Tracing } from './tracing/tracer.ts';

const body = NOTIFICATION;
const message = newMessage;
const start = startBroker;

describe('Broker on the test run’s RabbitMQ, with queues of its own', () => {
  let operator: Operator;
  const brokers: Broker[] = [];
  const { names: queues, queue } = ownQueues();
  const broker = (seen: Observed, options: Parameters<typeof start>[1]) => {
    const started = start(seen, options);
    brokers.push(started);
    return started;
  };

  /** A broker whose consumer of `q` throws on every message, so each is rejected to the dead-letter queue. */
  const rejecting = (seen: Observed, q: string) =>
    broker(seen, {
      consumers: [
        {
          queue: q,
          handle: async () => {
            throw new Error('cannot handle it');
          },
        },
      ],
    });

  before(async () => {
    operator = await Operator.connect();
  });
  after(async () => {
    for (const started of brokers) await started.close();
    for (const name of queues) await operator.remove(name);
    await operator.close();
  });

  it('refuses a queue that exists with other arguments, says which and how to fix it, and uses it once fixed', async () => {
    const seen = observed();
    const q = queue('other-arguments');
    await operator.channel.assertQueue(q, { durable: true }); // as an older version, another tool or the Go landscape made it
    const consumer = recording(q);
    const b = broker(seen, { publishesTo: [q], consumers: [consumer] });

    const refusal = 'queue exists with other arguments; not using it';
    // Retried with backoff meanwhile (each retry a debug line), logged once each at warn (publishing and consuming).
    await until(() => seen.logged(refusal, 'debug').length >= 6, 10_000, 'several retries');
    const refusals = seen.logged(refusal, 'warn');
    assert.equal(refusals.length, 2, 'one line per part, however often it is retried');
    for (const line of refusals) {
      assert.equal(line.level, 'warn');
      assert.equal(line.queue, q);
      assert.equal(line.operation, 'queue.declare');
      assert.equal(line.argument, 'x-dead-letter-exchange');
      assert.match(line.reason, /^PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue/);
      assert.equal(line.fix, `delete the queue (rabbitmqctl delete_queue ${q}; its messages go with it) or set VIP_QUEUE to another name`);
      assert.equal(line.stack, undefined);
    }
    assert.match(b.problem ?? '', new RegExp(`queue ${q.replace(/\./g, '\\.')} exists with another x-dead-letter-exchange than this service declares; delete the queue`));
    assert.equal(b.ready(q), false);
    await assert.rejects(b.send(q, body, message()), /exists with another x-dead-letter-exchange/);

    await operator.delete(q);
    await until(() => b.problem === undefined && b.ready(q), 10_000, 'the queue declared with our arguments');
    await b.send(q, body, message());
    await until(() => consumer.delivered.length === 1, 10_000, 'the message consumed');
    assert.deepEqual(consumer.delivered[0]!.body, body);
    assert.equal(seen.logged('queue declared; publishing to it').length, 1);
    assert.equal(seen.logged('consuming again').length, 1);
  });

  it('uses a quorum queue and dead-letter queue the operator declared beforehand: publishes, consumes and dead-letters through them, one line for each', async () => {
    const seen = observed();
    const q = queue('quorum');
    // As an operator makes them: quorum queues, with the dead-lettering the services need.
    await operator.channel.assertQueue(deadLetterQueue(q), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await operator.channel.assertQueue(q, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(q) },
    });
    const handled: unknown[] = [];
    const b = broker(seen, {
      publishesTo: [q],
      consumers: [
        {
          queue: q,
          handle: async ({ body: received }) => {
            if ((received as { poison?: boolean }).poison) throw new Error('cannot handle it');
            handled.push(received);
          },
        },
      ],
    });
    await until(() => b.problem === undefined && b.ready(q), 10_000, 'declared as the operator made them');
    await b.send(q, body, message());
    await b.send(q, { poison: true }, message());
    await until(() => handled.length === 1, 10_000, 'the message consumed');
    assert.deepEqual(handled, [body]);
    await until(async () => (await operator.channel.checkQueue(deadLetterQueue(q))).messageCount === 1, 10_000, 'the other dead-lettered');
    const used = seen.logged('queue is a quorum queue the operator declared; using it as one', 'info');
    assert.deepEqual(used.map((line) => line.queue).sort(), [deadLetterQueue(q), q].sort(), 'one line for each queue');
    assert.equal(seen.logged('queue exists with other arguments; not using it').length, 0);
  });

  it('notices a consumer cancel notification (queue deleted), says in problem why it cannot consume, and consumes again once the queue can be declared', async () => {
    const seen = observed();
    const q = queue('cancelled');
    const consumer = recording(q);
    const b = broker(seen, { consumers: [consumer] });
    await until(() => b.problem === undefined, 10_000, 'consuming');

    const holder = await Operator.connect();
    try {
      await holder.hold(q); // deleted, and its name taken: not declarable until released
      // The line, not the problem: the cancel's problem lasts only until the declaration is refused.
      const noticed = () => seen.logged('consumer cancelled by RabbitMQ (consumer cancel notification); declaring the queue again');
      await until(() => noticed().length > 0, 10_000, 'the cancel noticed');
      const [cancelled, ...more] = noticed();
      assert.deepEqual(more, []);
      assert.equal(cancelled!.queue, q);
      assert.equal(cancelled!.operation, 'basic.cancel');
      assert.equal(cancelled!.reason, 'consumer cancel notification');
      await until(() => /RESOURCE_LOCKED/.test(b.problem ?? ''), 10_000, 'the declaration refused while held');
    } finally {
      await holder.close();
    }
    await until(() => b.problem === undefined, 10_000, 'consuming again');
    await operator.publish(q, JSON.stringify(body), { messageId: 'after-cancel' });
    await until(() => consumer.delivered.length === 1, 10_000, 'a message sent afterwards consumed');
    assert.equal(consumer.delivered[0]!.messageId, 'after-cancel');
  });

  it('rejects a send no queue took (mandatory flag, basic.return), declares the queue again once, and sends once it is back', async () => {
    const seen = observed();
    const q = queue('returned');
    const b = broker(seen, { publishesTo: [q] });
    const announced: string[] = [];
    b.onReady((name) => announced.push(name));
    await until(() => b.ready(q), 10_000, 'declared');
    await operator.delete(q);

    const [first, second] = [message(), message()];
    const returned = /^Error: basic\.return 312 NO_ROUTE: no queue took the message$/;
    await Promise.all([assert.rejects(b.send(q, body, first), returned), assert.rejects(b.send(q, body, second), returned)]);
    const [missing, ...more] = seen.logged('queue missing: a message came back with basic.return; declaring the queue again');
    assert.deepEqual(more, [], 'declared again once for both');
    assert.equal(missing?.queue, q);
    assert.equal(missing?.operation, 'basic.publish');
    assert.equal(missing?.reason, 'basic.return');
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared again');
    assert.deepEqual(announced, [q, q]);
    await b.send(q, body, first); // as the outbox sends it again, with its id
    assert.equal((await operator.channel.checkQueue(q)).messageCount, 1, 'only the confirmed message is in the queue');
  });

  it('rejects a send the broker refuses (basic.nack)', async () => {
    const seen = observed();
    const q = queue('nacked');
    const b = broker(seen, { publishesTo: [q] });
    await until(() => b.ready(q), 10_000, 'declared');
    const holder = await Operator.connect();
    try {
      await holder.hold(q);
      await assert.rejects(b.send(q, body, message()), /^Error: basic\.nack: RabbitMQ did not take the message$/);
    } finally {
      await holder.close();
    }
  });

  it('traces a message from its PRODUCER span to the CONSUMER span, tagged by the messaging conventions, and acknowledges it', async () => {
    const seen = observed();
    const q = queue('traced');
    const consumer = recording(q);
    const b = broker(seen, { publishesTo: [q], consumers: [consumer] });
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared and consuming');
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    const messageId = randomBytes(8).toString('hex');
    const { span, headers } = producerSpan(request, q, messageId);
    await b.send(q, body, { messageId, headers });
    span.finish();
    await until(() => seen.spans.some((s) => s.kind === 'CONSUMER'), 10_000, 'the CONSUMER span');
    const producer = seen.spans.find((s) => s.kind === 'PRODUCER')!;
    const consumed = seen.spans.find((s) => s.kind === 'CONSUMER')!;
    const tags = { 'messaging.system': 'rabbitmq', 'messaging.destination.name': q, 'rabbitmq.destination.routing_key': q, 'messaging.message.id': messageId };
    assert.equal(producer.name, `publish ${q}`);
    assert.equal(producer.parentId, request.spanId);
    assert.deepEqual(producer.remoteEndpoint, { serviceName: 'rabbitmq' });
    assert.deepEqual(producer.tags, { ...tags, 'messaging.operation.name': 'publish', 'messaging.operation.type': 'send' });
    assert.deepEqual(headers, { b3: `${producer.traceId}-${producer.id}-1-${request.spanId}`, traceparent: `00-${producer.traceId}-${producer.id}-01` });
    assert.equal(consumed.name, `consume ${q}`);
    assert.deepEqual([consumed.traceId, consumed.parentId], [producer.traceId, producer.id], 'a child of the PRODUCER span');
    assert.deepEqual(consumed.remoteEndpoint, { serviceName: 'rabbitmq' });
    assert.deepEqual(consumed.tags, { ...tags, 'messaging.operation.name': 'consume', 'messaging.operation.type': 'process' });

    const [delivered] = consumer.delivered;
    assert.deepEqual([delivered!.body, delivered!.messageId, delivered!.redelivered], [body, messageId, false]);
    delivered!.log.info('handled');
    const [line] = seen.logged('handled');
    assert.deepEqual([line?.traceId, line?.spanId], [consumed.traceId, consumed.id], 'the handler logs in the CONSUMER span');

    await b.close();
    assert.equal((await operator.channel.checkQueue(q)).messageCount, 0, 'acknowledged: nothing back in the queue once the consumer is gone');
  });

  it('hands over a message without an id as such, its span untagged by one', async () => {
    const seen = observed();
    const q = queue('no-id');
    const consumer = recording(q);
    const b = broker(seen, { consumers: [consumer] });
    await until(() => b.problem === undefined, 10_000, 'consuming');
    await operator.publish(q, JSON.stringify(body));
    await until(() => seen.spans.some((s) => s.kind === 'CONSUMER'), 10_000, 'the CONSUMER span');
    assert.equal(consumer.delivered[0]!.messageId, undefined);
    assert.equal(seen.spans[0]!.tags['messaging.message.id'], undefined);
    assert.equal(seen.spans[0]!.tags['messaging.destination.name'], q);
  });

  it('sends a message its consumer throws on, or that is no JSON, to the dead-letter queue, with its span failed', async () => {
    const seen = observed();
    const q = queue('rejected');
    const b = rejecting(seen, q);
    await until(() => b.problem === undefined, 10_000, 'consuming');
    await operator.publish(q, JSON.stringify(body), { messageId: 'thrown' });
    await operator.publish(q, 'no JSON', { messageId: 'garbled' });
    await until(async () => (await operator.channel.checkQueue(deadLetterQueue(q))).messageCount === 2, 10_000, 'both dead-lettered');
    const dead = [];
    for (let message; (message = await operator.channel.get(deadLetterQueue(q), { noAck: true })); ) dead.push(message);
    assert.deepEqual(dead.map((m) => [m.properties.messageId, m.properties.headers?.['x-death']?.[0]?.reason]), [['thrown', 'rejected'], ['garbled', 'rejected']]);
    await until(() => seen.spans.length === 2, 10_000, 'both CONSUMER spans');
    assert.deepEqual(seen.spans.map((s) => [s.tags.error, s.annotations.map((a: { value: string }) => a.value)]), [
      ['cannot handle it', ['sent to dead-letter queue']],
      [seen.spans[1]!.tags.error, ['sent to dead-letter queue']],
    ]);
    assert.match(seen.spans[1]!.tags.error, /JSON/);
    const rejected = seen.logged('message rejected to the dead-letter queue', 'error');
    assert.deepEqual(rejected.map((line) => [line.queue, line.messageId, line.traceId, line.error.message]), [
      [q, 'thrown', seen.spans[0]!.traceId, 'cannot handle it'],
      [q, 'garbled', seen.spans[1]!.traceId, seen.spans[1]!.tags.error],
    ]);
    await b.close();
    assert.equal((await operator.channel.checkQueue(q)).messageCount, 0, 'rejected, not left unacknowledged');
    // The dead-letter queue is durable: declaring it otherwise is refused.
    const check = await operator.connection.createChannel();
    check.on('error', () => {});
    await assert.rejects(check.assertQueue(deadLetterQueue(q), { durable: false }), /inequivalent arg 'durable'/);
  });

  it('declares the dead-letter queue again when an operator deleted it (or an expires policy removed it) before rejecting a message to it, and says so once', async () => {
    const seen = observed();
    const q = queue('dead-letter-deleted');
    const b = rejecting(seen, q);
    await until(() => b.problem === undefined, 10_000, 'consuming');
    await operator.delete(deadLetterQueue(q));
    const deadLettered = () =>
      Operator.using(AMQP_URL, async ({ channel }) => (await channel.checkQueue(deadLetterQueue(q))).messageCount).catch(() => 0);
    await operator.publish(q, 'no JSON', { messageId: 'after-deletion' });
    await until(async () => (await deadLettered()) === 1, 10_000, 'dead-lettered, not dropped');
    const [declared, ...more] = seen.logged('dead-letter queue missing (deleted, or removed by an expires policy); declared it again', 'warn');
    assert.deepEqual(more, []);
    assert.deepEqual([declared?.queue, declared?.deadLetterQueue, declared?.operation], [q, deadLetterQueue(q), 'queue.declare']);
    await operator.publish(q, 'no JSON', { messageId: 'once-there' });
    await until(async () => (await deadLettered()) === 2, 10_000, 'the second dead-lettered');
    assert.equal(seen.logged('dead-letter queue missing (deleted, or removed by an expires policy); declared it again').length, 1, 'a line only when it was missing');
    const dead = [];
    for (let message; (message = await operator.channel.get(deadLetterQueue(q), { noAck: true })); ) dead.push(message.properties.messageId);
    assert.deepEqual(dead, ['after-deletion', 'once-there']);
  });

  it('rejects only the message its consumer throws on, not the others it holds meanwhile', async () => {
    const seen = observed();
    const q = queue('rejected-alone');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const b = broker(seen, {
      consumers: [
        {
          queue: q,
          handle: async ({ messageId }) => {
            if (messageId === 'bad') throw new Error('cannot handle it');
            await held;
            handled.push(messageId!);
          },
        },
      ],
    });
    await until(() => b.problem === undefined, 10_000, 'consuming');
    await operator.publish(q, JSON.stringify(body), { messageId: 'slow' });
    await operator.publish(q, JSON.stringify(body), { messageId: 'bad' });
    await until(() => seen.logged('message rejected to the dead-letter queue').length === 1, 10_000, 'bad rejected');
    release();
    await until(() => handled.length === 1, 10_000, 'slow handled');
    await until(() => seen.spans.length === 2, 10_000, 'both CONSUMER spans');
    await b.close();
    assert.equal((await operator.channel.checkQueue(q)).messageCount, 0, 'slow acknowledged');
    const dead = await operator.channel.get(deadLetterQueue(q), { noAck: true });
    assert.equal(dead && dead.properties.messageId, 'bad');
    assert.equal(await operator.channel.get(deadLetterQueue(q), { noAck: true }), false, 'only bad');
  });

  it('takes a boolean true X-B3-Sampled as the producer’s decision, over a consumer that samples nothing', async () => {
    const seen = observed();
    const q = queue('sampled-true');
    const consumer = recording(q);
    const unsampling = new Tracing({ serviceName: 'test', exporter: createMemoryExporter(), sampleRate: 0 });
    const b = broker({ ...seen, tracing: unsampling }, { consumers: [consumer] });
    await until(() => b.problem === undefined, 10_000, 'consuming');
    const traceId = randomBytes(16).toString('hex');
    const headers = { 'X-B3-TraceId': traceId, 'X-B3-SpanId': randomBytes(8).toString('hex') };
    await operator.publish(q, JSON.stringify(body), { messageId: 'decided', headers: { ...headers, 'X-B3-Sampled': true } });
    await operator.publish(q, JSON.stringify(body), { messageId: 'deferred', headers });
    await until(() => consumer.delivered.length === 2, 10_000, 'delivered');
    assert.deepEqual(
      consumer.delivered.map((m) => [m.messageId, m.span.traceId, m.span.recording]),
      [
        ['decided', traceId, true],
        ['deferred', traceId, false],
      ],
    );
  });

  it('rejects a send while not connected, logs the failure once however often it retries, and says so in problem', async () => {
    const seen = observed();
    const q = queue('unreachable');
    const b = broker(seen, { url: `amqp://guest:guest@127.0.0.1:${await freePort()}`, publishesTo: [q] });
    await until(() => seen.logged('cannot connect to RabbitMQ; retrying', 'debug').length >= 3, 10_000, 'several reconnect attempts');
    assert.match(b.problem ?? '', /not connected to RabbitMQ: connect ECONNREFUSED/);
    assert.equal(seen.logged('cannot connect to RabbitMQ; retrying', 'warn').length, 1);
    assert.equal(b.ready(q), false);
    await assert.rejects(b.send(q, body, message()), /not connected to RabbitMQ: connect ECONNREFUSED/);
  });

  describe('reads trace context from headers however other clients encode them', () => {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const str = (value: string) => value; // field type S, a long string: what every client writes for a string
    const bytes = (value: string) => Buffer.from(value); // field type x, a byte array: Go []byte, Python bytes, Java byte[]
    const cases: Array<[string, Record<string, unknown>, { sampled: boolean; debug?: boolean; continues?: boolean }]> = [
      ['b3 as a long string', { b3: str(`${traceId}-${spanId}-1`) }, { sampled: true }],
      ['b3 as a byte array', { b3: bytes(`${traceId}-${spanId}-1`) }, { sampled: true }],
      ['traceparent as a long string', { traceparent: str(`00-${traceId}-${spanId}-01`) }, { sampled: true }],
      ['traceparent as a byte array', { traceparent: bytes(`00-${traceId}-${spanId}-01`) }, { sampled: true }],
      ['X-B3-* as byte arrays', { 'X-B3-TraceId': bytes(traceId), 'X-B3-SpanId': bytes(spanId), 'X-B3-Sampled': bytes('1') }, { sampled: true }],
      ['X-B3-Sampled as a byte (b)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': { '!': 'byte', value: 1 } }, { sampled: true }],
      ['X-B3-Sampled as a short (s)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': { '!': 'short', value: 1 } }, { sampled: true }],
      ['X-B3-Sampled as an int (I)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': { '!': 'int', value: 1 } }, { sampled: true }],
      ['X-B3-Sampled as a long (l)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': { '!': 'long', value: 1 } }, { sampled: true }],
      ['X-B3-Sampled as a boolean true (t)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': true }, { sampled: true }],
      ['X-B3-Sampled as a boolean false (t)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': false }, { sampled: false }],
      ['X-B3-Flags as an int (I)', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Flags': { '!': 'int', value: 1 } }, { sampled: true, debug: true }],
      ['b3 beside a B3 that is no trace context (a table)', { b3: str(`${traceId}-${spanId}-1`), B3: { not: 'trace context' } }, { sampled: true }],
      ['X-B3-Flags as an array (A): no debug flag', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': '1', 'X-B3-Flags': [1] }, { sampled: true, debug: false }],
      ['b3 as an array (A): no trace context', { b3: [`${traceId}-${spanId}-1`] }, { sampled: true, continues: false }],
      ['X-B3-SpanId as a long past 2^53, whose digits are not exact: no span id', { 'X-B3-TraceId': traceId, 'X-B3-SpanId': { '!': 'long', value: 2 ** 53 }, 'X-B3-Sampled': '1' }, { sampled: true, continues: false }],
    ];
    let seen: Observed;
    let consumer: ReturnType<typeof recording>;
    let q: string;
    before(async () => {
      seen = observed();
      q = queue('encodings');
      consumer = recording(q);
      const b = broker(seen, { consumers: [consumer] });
      await until(() => b.problem === undefined, 10_000, 'consuming');
    });

    for (const [name, headers, expected] of cases) {
      it(name, async () => {
        const messageId = randomBytes(8).toString('hex');
        await operator.publish(q, JSON.stringify(body), { messageId, headers });
        await until(() => consumer.delivered.some((m) => m.messageId === messageId), 10_000, 'delivered');
        const { span } = consumer.delivered.find((m) => m.messageId === messageId)!;
        if (expected.continues === false) return assert.notEqual(span.traceId, traceId, 'a trace of its own');
        assert.equal(span.traceId, traceId, 'the trace continues');
        assert.equal(span.recording, expected.sampled);
        assert.equal(span.context.debug, expected.debug ?? false);
        if (!expected.sampled) return;
        await until(() => seen.spans.some((s) => s.tags?.['messaging.message.id'] === messageId), 10_000, 'the CONSUMER span');
        const consumed = seen.spans.find((s) => s.tags?.['messaging.message.id'] === messageId)!;
        assert.equal(consumed.kind, 'CONSUMER');
        assert.equal(consumed.parentId, spanId, 'a child of the producer');
      });
    }
  });
});

describe('Broker on a RabbitMQ node of its own', () => {
  let node: PrivateBroker;
  const dir = mkdtempSync(join(tmpdir(), 'messaging-test-'));
  const operating = <T>(work: (operator: Operator) => Promise<T>) => Operator.using(node.url, work);

  before(async () => {
    node = await startPrivateBroker();
  });
  after(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('while the broker is down: the problem says so, sends reject, the outbox keeps every message and publishes them in order once it is back', async () => {
    const seen = observed();
    const q = testQueue('outage');
    const consumer = recording(q);
    const b = start(seen, { url: node.url, publishesTo: [q], consumers: [consumer] });
    const store = openStore(join(dir, 'outage'));
    const outbox = new Outbox({ store, broker: b, queue: q, log: seen.log, backoff: FAST_BACKOFF });
    try {
      await until(() => b.problem === undefined && b.ready(q), 20_000, 'connected');
      await node.stopApp();
      await until(() => /connection lost|not connected/.test(b.problem ?? ''), 10_000, 'the outage noticed');
      assert.equal(b.ready(q), false);
      await assert.rejects(b.send(q, body, message()), /^Error: (connection lost|not connected to RabbitMQ): /);
      const [lost] = seen.logged('connection to RabbitMQ lost; reconnecting', 'warn');
      assert.match(lost?.reason, /^CONNECTION_FORCED - broker forced connection closure/);
      const parent = seen.tracing.rootSpan('request', { kind: 'SERVER' });
      for (let i = 0; i < 5; i++) await outbox.enqueue({ ...body, readAt: String(i) }, parent);
      assert.equal(outbox.size, 5, 'kept on disk');

      await node.startApp();
      await until(() => consumer.delivered.length === 5, 30_000, 'all five delivered');
      assert.deepEqual(consumer.delivered.map((m) => (m.body as typeof body).readAt), ['0', '1', '2', '3', '4'], 'in order');
      // The consumer may have a message before its entry leaves the outbox.
      await until(() => outbox.size === 0, 10_000, 'the outbox empty');
      assert.equal(b.problem, undefined);
      assert.equal(seen.logged('connection to RabbitMQ lost; reconnecting', 'warn').length, 1, 'the outage logged once');
      assert.ok(seen.logged('cannot connect to RabbitMQ; retrying', 'warn').length <= 1, 'the retries not logged one by one');
    } finally {
      await outbox.close();
      await b.close();
      await store.close();
    }
  });

  it('a resource alarm (connection.blocked) shows in problem while it lasts; what waited is published once it ends', async () => {
    const seen = observed();
    const q = testQueue('blocked');
    const consumer = recording(q);
    const b = start(seen, { url: node.url, publishesTo: [q], consumers: [consumer] });
    try {
      await until(() => b.problem === undefined, 20_000, 'connected');
      await node.ctl('set_vm_memory_high_watermark', '0.000001'); // a memory alarm: RabbitMQ blocks publishers
      const sent = b.send(q, body, message()); // RabbitMQ tells a connection it is blocked when it publishes
      await until(() => /RabbitMQ blocks publishing: low on memory/.test(b.problem ?? ''), 10_000, 'the block noticed');
      assert.equal(seen.logged('RabbitMQ blocks publishing on this connection', 'warn').length, 1);
      assert.equal(consumer.delivered.length, 0);
      await node.ctl('set_vm_memory_high_watermark', '0.4');
      await sent;
      await until(() => consumer.delivered.length === 1 && b.problem === undefined, 10_000, 'delivered once unblocked');
      assert.equal(seen.logged('RabbitMQ no longer blocks publishing').length, 1);
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
      await b.close();
    }
  });

  it('a stop during a resource alarm: flush gives up after its timeout saying what it keeps and why, closing ends the send awaiting its confirm, and the next start publishes it', async () => {
    const seen = observed();
    const q = testQueue('stop-blocked');
    const store = openStore(join(dir, 'stop-blocked'));
    const b = start(seen, { url: node.url, publishesTo: [q] });
    const outbox = new Outbox({ store, broker: b, queue: q, log: seen.log, backoff: FAST_BACKOFF });
    let next: { broker: Broker; outbox: Outbox } | undefined;
    try {
      await until(() => b.ready(q) && b.problem === undefined, 20_000, 'connected');
      await node.ctl('set_vm_memory_high_watermark', '0.000001'); // RabbitMQ blocks publishers: no confirm comes
      await outbox.enqueue(body, seen.tracing.rootSpan('request', { kind: 'SERVER' }));
      await until(() => /RabbitMQ blocks publishing: low on memory/.test(b.problem ?? ''), 10_000, 'the block noticed');

      // What accountservice does when it stops.
      const stopping = performance.now();
      await outbox.flush({ timeoutMs: 300 });
      const outboxClosed = outbox.close();
      await b.close(1000);
      await outboxClosed;
      const tookMs = performance.now() - stopping;
      assert.ok(tookMs < 1500, `stopped in ${tookMs.toFixed(0)} ms, within the flush's and the close's timeouts`);
      const [kept, ...more] = seen.logged('outbox not flushed in time; its messages are kept for the next start', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([kept?.queue, kept?.pending, kept?.timeoutMs, kept?.broker], [q, 1, 300, 'RabbitMQ blocks publishing: low on memory']);
      assert.deepEqual(seen.logged('outbox message not published; kept, publishing again with backoff'), [], 'the stop said it: no line per message');
      assert.equal(outbox.size, 1, 'kept on disk');
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
    }
    try {
      const consumer = recording(q);
      const broker = start(observed(), { url: node.url, publishesTo: [q], consumers: [consumer] });
      next = { broker, outbox: new Outbox({ store, broker, queue: q, log: observed().log, backoff: FAST_BACKOFF }) };
      await until(() => consumer.delivered.length >= 1 && next!.outbox.size === 0, 20_000, 'published by the next start');
      // RabbitMQ may have taken it before blocking: then it comes twice, with one id for the inbox to recognise.
      assert.equal(new Set(consumer.delivered.map((m) => m.messageId)).size, 1);
    } finally {
      await next?.outbox.close();
      await next?.broker.close();
      await store.close();
      await operating((operator) => operator.remove(q)).catch(() => {});
    }
  });

  it('an acknowledgement on a closed channel is not sent, nothing throws, and RabbitMQ delivers the message again', async () => {
    const seen = observed();
    const q = testQueue('closed-channel');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const deliveries: DeliveredMessage[] = [];
    const b = start(seen, {
      url: node.url,
      consumers: [{ queue: q, handle: async (m) => void (deliveries.push(m), deliveries.length === 1 && (await held)) }],
    });
    try {
      await until(() => b.problem === undefined, 20_000, 'consuming');
      await operating((operator) => operator.publish(q, JSON.stringify(body), { messageId: 'to-be-redelivered' }));
      await until(() => deliveries.length === 1, 10_000, 'the first delivery being handled');
      await node.ctl('close_all_connections', 'closed by a test');
      await until(() => /connection lost|not connected/.test(b.problem ?? ''), 10_000, 'the closed connection noticed');
      release(); // the handler finishes: its acknowledgement has no channel to go on

      await until(() => deliveries.length === 2, 30_000, 'the message delivered again');
      assert.deepEqual(deliveries.map((m) => [m.messageId, m.redelivered]), [['to-be-redelivered', false], ['to-be-redelivered', true]]);
      const [unsent] = seen.logged('acknowledgement not sent: the channel is closed; RabbitMQ delivers the message again');
      assert.equal(unsent?.messageId, 'to-be-redelivered');
      assert.equal(unsent?.queue, q);
      await until(async () => (await operating((operator) => operator.channel.checkQueue(q))).messageCount === 0, 10_000, 'acknowledged the second time');
    } finally {
      release();
      await b.close();
      await operating((operator) => operator.remove(q)).catch(() => {});
    }
  });
});

describe('queueFromEnv', () => {
  const read = (value: string | undefined) => queueFromEnv(envReader({ VIP_QUEUE: value }), 'VIP_QUEUE', 'vip_queue');

  it('reads a queue name that RabbitMQ takes, with room for its dead-letter queue', () => {
    assert.equal(read(undefined), 'vip_queue');
    assert.equal(read('é'.repeat(121) + 'x'), 'é'.repeat(121) + 'x', '243 bytes: with ".dead-letter", 255');
    assert.equal(read('amqp'), 'amqp');
    assert.equal(read('AMQ.x'), 'AMQ.x', 'the prefix is case-sensitive');
  });

  for (const [value, problem] of [
    ['amq.gen-1', /^VIP_QUEUE: queue names beginning with "amq\." are RabbitMQ's own/],
    ['amq', /^VIP_QUEUE: queue names beginning with "amq\." are RabbitMQ's own \(this queue's and its dead-letter queue's\), got "amq"$/],
    ['q'.repeat(244), /^VIP_QUEUE: a queue name of at most 243 bytes .*, got 244: "q+"$/],
    ['é'.repeat(122), /got 244/],
  ] as const) {
    it(`refuses VIP_QUEUE=${value.slice(0, 12)}… (${Buffer.byteLength(value)} bytes), naming the setting`, () => {
      assert.throws(() => read(value), (error: unknown) => error instanceof ConfigError && error.variable === 'VIP_QUEUE' && problem.test(error.message));
    });
  }
});

describe('extractFromAmqp', () => {
  const [trace, span] = ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7'];

  it('takes an integer or a boolean for the sampling flag and B3 flags only: an id that is a number is no hex id', () => {
    assert.deepEqual(extractFromAmqp({ 'X-B3-TraceId': trace, 'X-B3-SpanId': span, 'X-B3-Sampled': 0 }), {
      kind: 'context',
      format: 'b3-multi',
      context: { traceId: trace, spanId: span, debug: false, sampled: false },
    });
    assert.equal(extractFromAmqp({ 'x-b3-traceid': trace, 'x-b3-spanid': span, 'x-b3-flags': true }).kind, 'context');
    // 1234567890123456 written as a number would read as a 16-digit hex trace id.
    assert.deepEqual(extractFromAmqp({ 'X-B3-TraceId': 1234567890123456, 'X-B3-SpanId': span, 'X-B3-Sampled': 1 }), {
      kind: 'sampling',
      sampled: true,
      debug: false,
    });
    assert.deepEqual(extractFromAmqp({ 'X-B3-TraceId': trace, 'X-B3-SpanId': 1234567890123456 }), { kind: 'none' });
    assert.deepEqual(extractFromAmqp({ b3: 1 }), { kind: 'none' });
  });
});
