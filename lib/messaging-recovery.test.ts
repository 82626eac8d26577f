/**
 * How the broker wrapper recovers, on a RabbitMQ node of this file's own: a lost connection,
 * a channel the broker closes, a queue whose declaration or consumer the broker holds up,
 * retries and their backoff. What RabbitMQ does is made to happen on the node itself
 * (`rabbitmqctl eval`): a channel error as an acknowledgement with an unknown delivery tag
 * causes, a connection's reader or a queue's process suspended for as long as a test looks
 * at the state in between; new connections wait in a proxy while a test looks at a lost one.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startPrivateBroker, type PrivateBroker } from '../tools/rabbitmq-node.ts';
import { until } from '../tools/wait.ts';
import { Broker, deadLetterQueue, type BrokerOptions, type DeliveredMessage } from './messaging.ts';
import { NOTIFICATION, newMessage, observed, Operator, ownQueues, recording, startBroker, type Observed } from './messaging.testing.ts';

const body = NOTIFICATION;
const message = newMessage;

/** Milliseconds between two log lines. */
const between = (earlier: Record<string, any>, later: Record<string, any>) => Date.parse(later.time) - Date.parse(earlier.time);

/**
 * A TCP proxy to `url`; while `hold()` lasts, new connections wait in it, unanswered (what
 * the client sends is kept), until `release()` passes them on. Connections already passed on
 * stay as they are, unless `cut()`.
 */
async function holdingProxy(url: string) {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  /** Connections held, each with what its client sent meanwhile. */
  let held: Array<{ client: Socket; sent: Buffer[] }> | undefined;
  const pass = (client: Socket, sent: Buffer[] = []) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(upstream);
    upstream.on('error', () => {});
    for (const chunk of sent) upstream.write(chunk);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (held) {
      const waiting = { client, sent: [] as Buffer[] };
      const keep = (chunk: Buffer) => waiting.sent.push(chunk);
      client.on('data', keep);
      held.push(waiting);
      client.once('pass', () => client.off('data', keep));
    } else {
      pass(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = new URL(url);
  address.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: address.toString(),
    /** How many connections wait, their client having begun the AMQP handshake. */
    get waiting() {
      return held?.filter(({ sent }) => sent.length > 0).length ?? 0;
    },
    hold: () => void (held ??= []),
    /** Closes the connections passed on, as a network failure would. */
    cut: () => {
      for (const socket of sockets) if (!held?.some(({ client }) => client === socket)) socket.destroy();
    },
    /** Answers the connections held as a server of another AMQP version would, refusing them. */
    refuse: () => {
      for (const { client } of held ?? []) client.end(Buffer.from('AMQP\x00\x00\x09\x00', 'latin1'));
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const { client, sent } of waiting) {
        client.emit('pass');
        pass(client, sent);
      }
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('Broker recovery, on a RabbitMQ node of its own', () => {
  let node: PrivateBroker;
  const brokers: Broker[] = [];
  const { names: queues, queue } = ownQueues();
  const start = (seen: Observed, options: Partial<BrokerOptions>) => {
    const broker = startBroker(seen, { url: node.url, ...options });
    brokers.push(broker);
    return broker;
  };
  const operating = <T>(work: (operator: Operator) => Promise<T>) => Operator.using(node.url, work);
  const erlang = (code: string) => node.ctl('eval', code);
  const queueProcess = (name: string) => `begin {ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"${name}">>)), amqqueue:get_pid(Q) end`;
  /** Suspends the queue's process: declaring the queue and consuming from it wait until `resumeQueue`. */
  const suspendQueue = (name: string) => erlang(`sys:suspend(${queueProcess(name)}).`);
  const resumeQueue = (name: string) => erlang(`sys:resume(${queueProcess(name)}).`);
  /**
   * Has RabbitMQ close the channels that `which` picks (a channel error: an acknowledgement
   * with an unknown delivery tag), after suspending their connections' readers: nothing sent
   * on those connections is read, a channel opened again included, until `resumeConnections`.
   */
  const closeChannels = (which: 'publishing' | 'consuming') =>
    erlang(
      // A channel waiting on a suspended queue answers no info call: it is left alone.
      `Info = fun(P, Items) -> Self = self(), spawn(fun() -> Self ! {P, catch rabbit_channel:info(P, Items)} end), receive {P, I} -> I after 2000 -> busy end end, ` +
        `[begin [{connection, R}] = Info(P, [connection]), sys:suspend(R), rabbit_channel:do(P, {'basic.ack', 999, false}) end ` +
        `|| P <- rabbit_channel:list(), ${which === 'publishing' ? 'Info(P, [confirm]) =:= [{confirm, true}]' : 'Info(P, [consumer_count]) =:= [{consumer_count, 1}]'}].`,
    );
  const resumeConnections = () => erlang('[sys:resume(R) || R <- rabbit_networking:connections()].');
  /** Declares `name` as the services do, as one of them would have before. */
  const declared = (name: string) =>
    operating(async ({ channel }) => {
      await channel.assertQueue(deadLetterQueue(name), { durable: true });
      await channel.assertQueue(name, { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(name) } });
    });
  const messagesIn = (name: string) => operating(async ({ channel }) => (await channel.checkQueue(name)).messageCount);
  const unknownTag = 'PRECONDITION_FAILED - unknown delivery tag 999';

  before(async () => {
    node = await startPrivateBroker();
  });
  after(async () => {
    await resumeConnections().catch(() => {});
    for (const broker of brokers) await broker.close();
    await operating(async (operator) => {
      for (const name of queues) await operator.remove(name);
    }).catch(() => {});
    await node?.close();
  });

  it('says it is not connected yet until it is, then logs that it connected, and a service that publishes nowhere refuses sends', async () => {
    const seen = observed();
    const b = start(seen, {});
    assert.equal(b.problem, 'not connected to RabbitMQ yet');
    assert.equal(b.ready('anywhere'), false);
    await assert.rejects(b.send('anywhere', body, message()), /^Error: not connected to RabbitMQ$/);
    await until(() => b.problem === undefined, 10_000, 'connected');
    assert.deepEqual(
      seen.lines.map((line) => [line.level, line.msg]),
      [['info', 'connected to RabbitMQ']],
    );
    // No channel at all: nothing to publish to, nothing to consume.
    await assert.rejects(b.send('anywhere', body, message()), /^Error: not connected to RabbitMQ$/);
    assert.equal((await node.ctl('list_channels', '--quiet', '--no-table-headers', 'number')).trim(), '');
  });

  it('shows each queue being set up, those published to first, until the broker has declared it or lets it be consumed', async () => {
    const seen = observed();
    const [published, consumed] = [queue('held-publish'), queue('held-consume')];
    for (const name of [published, consumed]) await declared(name);
    await suspendQueue(published);
    await suspendQueue(consumed);
    const consumer = recording(consumed);
    const b = start(seen, { publishesTo: [published], consumers: [consumer] });
    const announced: string[] = [];
    b.onReady((name) => announced.push(name));
    try {
      await until(() => b.problem === `setting up queue ${published}, ${consumed}`, 10_000, 'both queues being set up');
      assert.equal(b.ready(published), false);
      await assert.rejects(b.send(published, body, message()), new Error(`queue ${published} not declared yet`));

      await resumeQueue(published);
      await until(() => b.ready(published), 10_000, 'the published queue declared');
      assert.equal(b.problem, `setting up queue ${consumed}`);
      assert.deepEqual(announced, [published]);
    } finally {
      await resumeQueue(consumed);
    }
    await until(() => b.problem === undefined, 10_000, 'consuming');
    const consumers = await node.ctl('list_consumers', '--quiet', '--no-table-headers', 'queue_name', 'prefetch_count');
    assert.deepEqual(consumers.trim().split(/\s+/), [consumed, '10'], 'ten unacknowledged messages at most, unless the consumer says otherwise');
    await operating((operator) => operator.publish(consumed, JSON.stringify(body), { messageId: 'after-setup' }));
    await until(() => consumer.delivered.length === 1, 10_000, 'consumed');
    assert.equal(consumer.delivered[0]!.messageId, 'after-setup');
  });

  it('when RabbitMQ closes the publishing channel: problem and sends say why until it is open again, then announces the declared queues again', async () => {
    const seen = observed();
    const [q, held] = [queue('publisher-closed'), queue('publisher-closed-held')];
    await declared(held);
    await suspendQueue(held); // declared only at the end: not announced when the channel opens again
    const b = start(seen, { publishesTo: [q, held] });
    const announced: string[] = [];
    b.onReady((name) => announced.push(name));
    try {
      await until(() => b.ready(q) && b.problem === `setting up queue ${held}`, 10_000, 'one queue declared');
      await closeChannels('publishing');
      const problem = `publishing channel: channel closed by RabbitMQ: ${unknownTag}`;
      await until(() => b.problem === problem, 10_000, 'the closed channel noticed');
      assert.equal(b.ready(q), false);
      await assert.rejects(b.send(q, body, message()), new Error(problem));
      const [closed, ...more] = seen.logged('channel closed by RabbitMQ; opening it again', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([closed?.operation, closed?.queue, closed?.reason], ['basic.publish', undefined, unknownTag]);

      await resumeConnections();
      await until(() => b.ready(q) && b.problem === `setting up queue ${held}`, 10_000, 'the publishing channel open again');
      assert.deepEqual(announced, [q, q]);
      assert.equal(seen.logged('publishing channel open again', 'info').length, 1);
      const sent = { messageId: 'after-reopen', headers: { b3: '0' } };
      const before = Math.floor(Date.now() / 1000);
      await b.send(q, body, sent);
      const after = Math.ceil(Date.now() / 1000);
      const got = await operating(async ({ channel }) => channel.get(q, { noAck: true }));
      assert.ok(got);
      assert.deepEqual(JSON.parse(got.content.toString()), body);
      const { deliveryMode, contentType, messageId, timestamp, headers } = got.properties;
      assert.deepEqual({ deliveryMode, contentType, messageId, headers }, { deliveryMode: 2, contentType: 'application/json', messageId: 'after-reopen', headers: { b3: '0' } });
      assert.ok(timestamp >= before && timestamp <= after, `timestamp ${timestamp} in seconds, within [${before}, ${after}]`);
    } finally {
      await resumeConnections();
      await resumeQueue(held);
    }
    await until(() => b.ready(held) && b.problem === undefined, 10_000, 'the other queue declared');
    assert.deepEqual(announced, [q, q, held]);
  });

  it('when the publishing channel cannot be opened again (no channel number left), problem says why until it can', async () => {
    const seen = observed();
    const [q, consumed] = [queue('publisher-no-channel'), queue('publisher-no-channel-consumer')];
    // Two channels a connection: the publishing channel and the consumer's, once the queue is declared.
    const channelMax = (await erlang('{ok, Max} = application:get_env(rabbit, channel_max), application:set_env(rabbit, channel_max, 2), Max.')).trim();
    let b: Broker;
    try {
      b = start(seen, { publishesTo: [q], consumers: [recording(consumed)] });
      await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared and consuming');
    } finally {
      await erlang(`application:set_env(rabbit, channel_max, ${channelMax}).`);
    }
    await closeChannels('publishing'); // its number is free only once the channel is closed: opening it again right away fails
    try {
      const problem = 'publishing channel: No channels left to allocate';
      await until(() => b.problem === problem, 10_000, 'the failed opening noticed');
      await assert.rejects(b.send(q, body, message()), new Error(problem));
      const [failed, ...more] = seen.logged('cannot open a publishing channel; retrying', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([failed?.operation, failed?.reason], ['channel.open', 'No channels left to allocate']);
    } finally {
      await resumeConnections();
    }
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'the publishing channel open again');
    assert.equal(seen.logged('publishing channel open again', 'info').length, 1);
  });

  it('after a basic.return, says the queue is missing until it is declared again', async () => {
    const seen = observed();
    const q = queue('returned');
    const b = start(seen, { publishesTo: [q] });
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared');
    await operating((operator) => operator.delete(q));
    await suspendQueue(deadLetterQueue(q)); // declaring the queue again begins with its dead-letter queue
    try {
      await assert.rejects(b.send(q, body, message()), new Error('basic.return 312 NO_ROUTE: no queue took the message'));
      assert.equal(b.problem, `queue ${q} missing (basic.return); declaring it again`);
      assert.equal(b.ready(q), false);
      await assert.rejects(b.send(q, body, message()), new Error(`queue ${q} missing (basic.return); declaring it again`));
    } finally {
      await resumeQueue(deadLetterQueue(q));
    }
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared again');
    assert.deepEqual(seen.logged('queue declared; publishing to it', 'info').map((line) => line.queue), [q]);
  });

  it('when RabbitMQ closes a consumer’s channel: problem says why until it consumes again, and messages reach the consumer again', async () => {
    const seen = observed();
    const q = queue('consumer-closed');
    const consumer = recording(q);
    const b = start(seen, { consumers: [consumer] });
    await until(() => b.problem === undefined, 10_000, 'consuming');
    await closeChannels('consuming');
    const problem = `consuming from ${q}: channel closed by RabbitMQ: ${unknownTag}`;
    try {
      await until(() => b.problem === problem, 10_000, 'the closed channel noticed');
      const [closed, ...more] = seen.logged('channel closed by RabbitMQ; opening it again', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([closed?.operation, closed?.queue, closed?.reason], ['basic.consume', q, unknownTag]);
    } finally {
      await resumeConnections();
    }
    await until(() => b.problem === undefined, 10_000, 'consuming again');
    assert.deepEqual(seen.logged('consuming again', 'info').map((line) => line.queue), [q]);
    await operating((operator) => operator.publish(q, JSON.stringify(body), { messageId: 'after-reopen' }));
    await until(() => consumer.delivered.length === 1, 10_000, 'consumed again');
    assert.equal(consumer.delivered[0]!.messageId, 'after-reopen');
  });

  it('when the connection is lost: says why until it is back, rejects what waited for a confirm, forgets a block, and declares every queue again before using it', async () => {
    const seen = observed();
    const [published, consumed] = [queue('lost-publish'), queue('lost-consume')];
    const consumer = recording(consumed);
    const proxy = await holdingProxy(node.url);
    const b = start(seen, { url: proxy.url, publishesTo: [published], consumers: [consumer] });
    try {
      await until(() => b.ready(published) && b.problem === undefined, 10_000, 'connected');
      // A memory alarm: RabbitMQ blocks the connection once it publishes, and holds the message unconfirmed.
      await node.ctl('set_vm_memory_high_watermark', '0.000001');
      const sent = assert.rejects(b.send(published, body, message()), new Error('no confirm: channel closed'));
      await until(() => b.problem === 'RabbitMQ blocks publishing: low on memory', 10_000, 'the block noticed');
      const [blocked] = seen.logged('RabbitMQ blocks publishing on this connection', 'warn');
      assert.deepEqual([blocked?.operation, blocked?.reason], ['connection.blocked', 'low on memory']);

      proxy.hold(); // the reconnection waits
      await suspendQueue(published); // and, once connected, the queue's declaration
      await node.ctl('close_all_connections', 'closed by a test');
      const lost = 'connection lost: CONNECTION_FORCED - closed by a test';
      await sent;
      await until(() => proxy.waiting > 0, 10_000, 'a reconnection');
      assert.equal(b.problem, lost, 'the block ended with the connection');
      assert.equal(b.ready(published), false);
      await assert.rejects(b.send(published, body, message()), new Error(lost));
      const [warned, ...more] = seen.logged('connection to RabbitMQ lost; reconnecting', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([warned?.operation, warned?.reason], ['connection.open', 'CONNECTION_FORCED - closed by a test']);

      await node.ctl('set_vm_memory_high_watermark', '0.4');
      proxy.release();
      await until(() => b.problem === `setting up queue ${published}`, 10_000, 'connected again, the queue being declared again');
      assert.equal(b.ready(published), false, 'not ready before it is declared on the new connection');
      assert.equal(seen.logged('connected to RabbitMQ', 'info').length, 2);

      // Lost again while the declaration waits: the declaration fails with the connection, and only the connection is reported.
      proxy.hold();
      proxy.cut();
      await until(() => proxy.waiting > 0, 10_000, 'a second reconnection');
      await until(() => seen.logged('connection to RabbitMQ lost; reconnecting').length === 2, 10_000, 'the second loss logged');
      assert.match(b.problem ?? '', /^connection lost: [^;]+$/);
      assert.deepEqual(seen.logged('queue not usable; retrying'), []);
      proxy.release();
      await until(() => b.problem === `setting up queue ${published}`, 10_000, 'connected a third time');
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
      proxy.release();
      await resumeQueue(published).catch(() => {});
    }
    try {
      await until(() => b.ready(published) && b.problem === undefined, 10_000, 'declared again');
      await b.send(published, body, message());
      await operating((operator) => operator.publish(consumed, JSON.stringify(body), { messageId: 'after-reconnect' }));
      await until(() => consumer.delivered.length === 1, 10_000, 'consumed after the reconnection');
      assert.equal(consumer.delivered[0]!.messageId, 'after-reconnect');
      assert.deepEqual(seen.logged('channel closed by RabbitMQ; opening it again'), [], 'channels closed with their connection are not reported one by one');
    } finally {
      await b.close();
      await proxy.close();
    }
  });

  it('when RabbitMQ closes the publishing channel each time it is used (write permission revoked): waits longer each time, says so once, and once when it is over', async () => {
    const seen = observed();
    const q = queue('publish-refused');
    const b = start(seen, { publishesTo: [q] });
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared');
    // As the outbox does: what waits is published whenever the queue is announced ready.
    b.onReady((name) => void b.send(name, body, message()).catch(() => {}));
    const closed = 'channel closed by RabbitMQ; opening it again';
    const refused = "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'guest'";
    await node.ctl('set_permissions', 'guest', '.*', '', '.*');
    try {
      await assert.rejects(b.send(q, body, message()), new Error('no confirm: channel closed'));
      await until(() => seen.logged(closed).length >= 8, 10_000, 'the channel closed again and again');
      const closures = seen.logged(closed);
      assert.deepEqual(closures.map((line) => [line.level, line.reason]), closures.map((_, i) => [i === 0 ? 'warn' : 'debug', refused]), 'one outage, logged once');
      // 0, then 20, 40, 80, 160, 200, 200 ms (initialDelayMs doubling up to maxDelayMs) before opening it again.
      for (let i = 2; i < closures.length; i++) {
        const wait = Math.min(200, 20 * 2 ** (i - 2));
        assert.ok(between(closures[i - 1]!, closures[i]!) >= wait - 1, `closure ${i + 1} came ${between(closures[i - 1]!, closures[i]!)} ms after the one before, not after a wait of ${wait} ms`);
      }
      assert.ok(seen.logged('publishing channel open again', 'info').length <= 1, 'no line per reopening');
    } finally {
      await node.ctl('set_permissions', 'guest', '.*', '.*', '.*');
    }
    await until(() => messagesIn(q).then((count) => count > 0), 10_000, 'a message published once permitted');
    await until(() => seen.logged('publishing channel open again', 'info').length === 2, 10_000, 'the end of the outage logged');
    assert.equal(b.problem, undefined);
    assert.equal(seen.logged(closed, 'warn').length, 1);
  });

  it('a queue at its length limit (an operator’s max-length policy, overflow reject-publish): problem says so and how to fix it, logged once, until a message is taken again', async () => {
    const seen = observed();
    const q = queue('length-limit');
    const policy = `limit-${q}`;
    const b = start(seen, { publishesTo: [q] });
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'declared');
    await node.ctl('set_policy', '--apply-to', 'queues', policy, `^${q.replaceAll('.', '\\.')}$`, JSON.stringify({ 'max-length': 0, overflow: 'reject-publish' }));
    const refusal = 'queue refuses messages (basic.nack); publishing again with backoff';
    try {
      await until(() => b.send(q, body, message()).then(() => false, () => true), 10_000, 'the policy applied: a send refused');
      await assert.rejects(b.send(q, body, message()), new Error('basic.nack: RabbitMQ did not take the message'));
      const fix = 'make room in it or raise the limit (rabbitmqctl list_queues name messages policy arguments; rabbitmqctl list_policies)';
      assert.equal(b.problem, `queue ${q} refuses messages (basic.nack): it may be at its length limit with overflow reject-publish (a max-length policy or x-max-length); ${fix}`);
      assert.equal(b.ready(q), true, 'still published to: the next try may be taken');
      const [refused, ...more] = seen.logged(refusal, 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([refused?.operation, refused?.queue, refused?.reason, refused?.fix], ['basic.publish', q, 'basic.nack', fix]);
    } finally {
      await node.ctl('clear_policy', policy);
    }
    await until(() => b.send(q, body, message()).then(() => true, () => false), 10_000, 'a send taken once the limit is lifted');
    assert.equal(b.problem, undefined);
    assert.deepEqual(seen.logged('queue takes messages again', 'info').map((line) => line.queue), [q]);
  });

  it('a connection RabbitMQ closes while it is set up (a user channel limit refusing the publishing channel): retried, saying why in the broker’s words, and nothing crashes', async () => {
    const seen = observed();
    const q = queue('channel-limit');
    await node.ctl('set_user_limits', 'guest', JSON.stringify({ 'max-channels': 0 }));
    let b: Broker;
    try {
      b = start(seen, { publishesTo: [q] });
      const refused = "NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum allowed user limit of (0)";
      await until(() => b.problem === `not connected to RabbitMQ: ${refused}`, 10_000, 'the refusal in problem');
      await until(() => seen.logged('cannot connect to RabbitMQ; retrying', 'debug').length >= 2, 10_000, 'retried');
      const [failed, ...more] = seen.logged('cannot connect to RabbitMQ; retrying', 'warn');
      assert.deepEqual(more, []);
      assert.deepEqual([failed?.operation, failed?.reason], ['connection.open', refused]);
    } finally {
      await node.ctl('clear_user_limits', 'guest', 'all');
    }
    await until(() => b.ready(q) && b.problem === undefined, 10_000, 'connected once the limit is lifted');
    assert.equal(seen.logged('connected to RabbitMQ', 'info').length, 1);
  });

  it('a connection RabbitMQ closes as soon as it is used (a user channel limit refusing the consumer’s channel): reconnects less and less often, says so once, and once when it is over', async () => {
    const seen = observed();
    const q = queue('channel-limit-consumer');
    const consumer = recording(q);
    const lost = 'connection to RabbitMQ lost; reconnecting';
    const refused = "NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum allowed user limit of (0)";
    await node.ctl('set_user_limits', 'guest', JSON.stringify({ 'max-channels': 0 }));
    let b: Broker;
    try {
      b = start(seen, { consumers: [consumer] });
      await until(() => seen.logged(lost).length >= 8, 20_000, 'connections made and lost again and again');
      const losses = seen.logged(lost);
      assert.deepEqual(losses.map((line) => [line.level, line.reason]), losses.map((_, i) => [i === 0 ? 'warn' : 'debug', refused]), 'one outage, logged once');
      // Each short-lived connection doubles the wait (20 ms up to 200 ms, in [half, all] of it): from the sixth on, at least 100 ms apart.
      for (let i = 6; i < losses.length; i++) assert.ok(between(losses[i - 1]!, losses[i]!) >= 100, `loss ${i + 1} came ${between(losses[i - 1]!, losses[i]!)} ms after the one before`);
      assert.deepEqual(seen.logged('connected to RabbitMQ', 'info').length, 2, 'the first connection and the first one after the loss; the others at debug');
    } finally {
      await node.ctl('clear_user_limits', 'guest', 'all');
    }
    await until(() => b.problem === undefined, 10_000, 'consuming once the limit is lifted');
    await until(() => seen.logged('connected to RabbitMQ', 'info').length === 3, 10_000, 'the end of the outage logged once it held');
    assert.equal(seen.logged(lost, 'warn').length, 1);
  });

  it('reports each refused queue apart, publishing and consuming', async () => {
    const seen = observed();
    const [one, two] = [queue('refused-one'), queue('refused-two')];
    await operating(async ({ channel }) => {
      for (const name of [one, two]) await channel.assertQueue(name, { durable: true });
    });
    const b = start(seen, { publishesTo: [one, two], consumers: [recording(one), recording(two)] });
    const refused = (name: string) =>
      `queue ${name} exists with another x-dead-letter-exchange than this service declares; delete the queue (rabbitmqctl delete_queue ${name}; its messages go with it) or set VIP_QUEUE to another name`;
    await until(() => (b.problem ?? '').split('; delete').length === 5, 10_000, 'four refusals');
    assert.deepEqual((b.problem ?? '').split(/(?<=name); /).sort(), [refused(one), refused(one), refused(two), refused(two)].sort());
    assert.deepEqual(
      seen.logged('queue exists with other arguments; not using it', 'warn').map((line) => line.queue).sort(),
      [one, one, two, two].sort(),
    );
    await b.close();
  });

  it('once closed, reports nothing of a connection attempt that fails afterwards', async () => {
    const proxy = await holdingProxy(node.url);
    proxy.hold();
    const [closed, witness] = [observed(), observed()];
    const b = start(closed, { url: proxy.url });
    const other = start(witness, { url: proxy.url }); // connecting at the same time, and failing with it
    try {
      await until(() => proxy.waiting === 2, 10_000, 'both connecting');
      await b.close();
      proxy.refuse(); // the connection attempts fail
      await until(() => witness.logged('cannot connect to RabbitMQ; retrying', 'warn').length === 1, 10_000, 'the failure seen');
      assert.deepEqual(closed.lines, []);
      assert.equal(b.problem, 'not connected to RabbitMQ yet');
    } finally {
      await other.close();
      await proxy.close();
    }
  });

  it('retries a refused declaration with backoff that starts at initialDelayMs', async () => {
    const seen = observed();
    const q = queue('backoff-initial');
    await operating((operator) => operator.channel.assertQueue(q, { durable: true }).then(() => {}));
    start(seen, { publishesTo: [q], backoff: { initialDelayMs: 1500 } });
    const refusal = 'queue exists with other arguments; not using it';
    await until(() => seen.logged(refusal, 'debug').length >= 1, 10_000, 'a retry');
    const [first] = seen.logged(refusal, 'warn');
    const [retried] = seen.logged(refusal, 'debug');
    assert.ok(between(first!, retried!) >= 1500, `retried after ${between(first!, retried!)} ms`);
  });

  it('retries a refused declaration at most maxDelayMs apart', async () => {
    const seen = observed();
    const q = queue('backoff-max');
    await operating((operator) => operator.channel.assertQueue(q, { durable: true }).then(() => {}));
    start(seen, { publishesTo: [q], backoff: { initialDelayMs: 20, maxDelayMs: 200 } });
    const refusal = 'queue exists with other arguments; not using it';
    // 20, 40, 80, 160 ms (each up to twice that, randomized), then 200 ms: twelve retries take about 2 s.
    await until(() => seen.logged(refusal, 'debug').length >= 12, 8000, 'twelve retries');
  });

  it('retries a queue name RabbitMQ cannot take (amqplib refuses it with a TypeError), saying why', async () => {
    const seen = observed();
    const q = `test.${'x'.repeat(256)}`;
    const b = start(seen, { publishesTo: [q] });
    const refusal = 'queue not usable; retrying';
    await until(() => seen.logged(refusal, 'debug').length >= 3, 10_000, 'several retries');
    const [first] = seen.logged(refusal, 'warn');
    assert.equal(first?.reason, "Field 'queue' is the wrong type; must be a string (up to 255 chars)");
    assert.equal(b.problem, `queue ${q} not usable: ${first?.reason}`);
  });
});
