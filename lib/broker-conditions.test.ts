/**
 * What the services say about their link to RabbitMQ: the errors are amqplib's own, from the
 * test run's broker with queues of this file's own (and a port nothing listens on).
 */
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import { after, before, describe, it } from 'node:test';
import { freePort, until } from '../tools/wait.ts';
import { amqpOperation, BrokerConditions, brokerReason, queueFailure, replyCode } from './broker-conditions.ts';
import { AMQP_URL, observed, Operator, testQueue } from './messaging.testing.ts';

describe('BrokerConditions', () => {
  const condition = (problem: string, extra: Record<string, unknown> = {}) => ({
    msg: 'queue not usable; retrying',
    problem,
    operation: 'queue.declare',
    queue: 'vip_queue',
    reason: 'NOT_FOUND',
    ...extra,
  });

  it('logs a new problem at warn with its fields but not the /health text, the same one again at debug', () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log);
    conditions.set('consume vip_queue', condition('queue vip_queue not usable: NOT_FOUND', { attempt: 1 }));
    conditions.set('consume vip_queue', condition('queue vip_queue not usable: NOT_FOUND', { attempt: 2 }));
    assert.deepEqual(
      seen.lines.map(({ time: _time, ...line }) => line),
      [
        { level: 'warn', service: 'test', msg: 'queue not usable; retrying', operation: 'queue.declare', queue: 'vip_queue', reason: 'NOT_FOUND', attempt: 1 },
        { level: 'debug', service: 'test', msg: 'queue not usable; retrying', operation: 'queue.declare', queue: 'vip_queue', reason: 'NOT_FOUND', attempt: 2, again: true },
      ],
    );
    assert.equal(conditions.problemOf('consume vip_queue'), 'queue vip_queue not usable: NOT_FOUND');
  });

  it('logs at warn when a part’s problem changes, and a problem per part', () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log);
    conditions.set('publish q', condition('first'));
    conditions.set('publish q', condition('second'));
    conditions.set('consume q', condition('second'));
    assert.deepEqual(
      seen.lines.map((line) => line.level),
      ['warn', 'warn', 'warn'],
    );
    assert.equal(conditions.problemOf('publish q'), 'second', 'the latest');
    assert.equal(conditions.summary, 'second; second');
  });

  it('sums up every current problem in the order they came, and nothing when all is well', () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log);
    assert.equal(conditions.summary, undefined);
    conditions.set('connection', condition('not connected to RabbitMQ: connect ECONNREFUSED 127.0.0.1:5672'));
    conditions.set('publish q', condition('queue q not usable: NOT_FOUND'));
    assert.equal(conditions.summary, 'not connected to RabbitMQ: connect ECONNREFUSED 127.0.0.1:5672; queue q not usable: NOT_FOUND');
    conditions.clear('connection');
    assert.equal(conditions.summary, 'queue q not usable: NOT_FOUND');
    assert.equal(conditions.problemOf('connection'), undefined);
    conditions.clear('publish q');
    assert.equal(conditions.summary, undefined);
  });

  it('logs the end of a problem once, with its fields, and only when there was one and a line is given', () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log);
    conditions.clear('connection', 'connected to RabbitMQ', { url: 'amqp://x' });
    assert.equal(seen.lines.length, 0, 'no problem, no line');
    conditions.set('connection', condition('down'));
    conditions.clear('connection');
    assert.equal(seen.lines.length, 1, 'no line given');
    conditions.set('connection', condition('down'));
    conditions.clear('connection', 'connected to RabbitMQ', { url: 'amqp://x' });
    conditions.clear('connection', 'connected to RabbitMQ', { url: 'amqp://x' });
    assert.deepEqual(
      seen.logged('connected to RabbitMQ').map(({ time: _time, ...line }) => line),
      [{ level: 'info', service: 'test', msg: 'connected to RabbitMQ', url: 'amqp://x' }],
    );
    conditions.set('connection', condition('down'));
    assert.equal(seen.lines.at(-1)!.level, 'warn', 'a problem after its end is new again');
  });
});

describe('BrokerConditions with a hold', () => {
  const closed = { msg: 'channel closed by RabbitMQ; opening it again', problem: 'publishing channel: ACCESS_REFUSED', operation: 'basic.publish', reason: 'ACCESS_REFUSED' };
  const levels = (seen: ReturnType<typeof observed>) => seen.lines.map((line) => [line.level, line.msg, line.again]);

  it('takes the same problem back within holdMs of its end for the same outage: at debug, and its end logged once it has held', async () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log, { holdMs: 300 });
    conditions.set('publishing', closed);
    conditions.clear('publishing', 'publishing channel open again');
    for (let i = 0; i < 3; i++) {
      conditions.set('publishing', closed);
      assert.equal(conditions.summary, 'publishing channel: ACCESS_REFUSED', 'shown while it lasts');
      conditions.clear('publishing', 'publishing channel open again');
      assert.equal(conditions.summary, undefined);
    }
    assert.deepEqual(levels(seen), [
      ['warn', closed.msg, undefined],
      ['info', 'publishing channel open again', undefined],
      ...Array.from({ length: 3 }, () => [['debug', closed.msg, true], ['debug', 'publishing channel open again', true]]).flat(),
    ]);
    const ended = Date.now();
    await until(() => seen.logged('publishing channel open again', 'info').length === 2, 5000, 'the end logged once it held');
    assert.ok(Date.now() - ended >= 290, 'not before it held');
    assert.deepEqual(levels(seen).at(-1), ['info', 'publishing channel open again', undefined]);
  });

  it('drops the line waiting for the hold when the problem comes back, or the link is closed', async () => {
    const seen = observed();
    const holdMs = 100;
    const conditions = new BrokerConditions(seen.log, { holdMs });
    // Due when a line set to wait for the hold before it would have been logged: Node runs timers of
    // one delay in the order they were set, so this one comes after any such line.
    const pastTheHold = () => new Promise((resolve) => setTimeout(resolve, holdMs));
    conditions.set('publishing', closed);
    conditions.clear('publishing', 'open again');
    conditions.set('publishing', closed);
    conditions.clear('publishing', 'open again');
    conditions.set('publishing', closed); // back before the hold: its end not logged
    await pastTheHold();
    assert.equal(seen.logged('open again', 'info').length, 1);
    conditions.clear('publishing', 'open again');
    conditions.close();
    await pastTheHold();
    assert.equal(seen.logged('open again', 'info').length, 1, 'nothing logged after close');
  });

  it('takes a problem that comes back after holdMs, or another one, for a new outage', async () => {
    const seen = observed();
    const conditions = new BrokerConditions(seen.log, { holdMs: 50 });
    conditions.set('publishing', closed);
    conditions.clear('publishing', 'open again');
    conditions.set('publishing', { ...closed, problem: 'publishing channel: something else' });
    conditions.clear('publishing', 'open again');
    await until(() => seen.logged('open again').length === 2 && Date.now() - Date.parse(seen.lines.at(-1)!.time) > 60, 5000, 'the hold over');
    conditions.set('publishing', { ...closed, problem: 'publishing channel: something else' });
    assert.deepEqual(seen.lines.map((line) => line.level), ['warn', 'info', 'warn', 'info', 'warn']);
  });
});

describe('What RabbitMQ said, from amqplib’s errors', () => {
  let operator: Operator;
  let client: ChannelModel;
  const queues: string[] = [];
  const queue = (what: string) => {
    const name = testQueue(what);
    queues.push(name);
    return name;
  };
  /** The error an operation on a channel of its own fails with (the broker closes that channel). */
  const failure = async (operation: (channel: amqp.Channel) => Promise<unknown>): Promise<Error> => {
    const channel = await client.createChannel();
    channel.on('error', () => {});
    try {
      await operation(channel);
    } catch (error) {
      return error as Error;
    }
    throw new Error('the operation did not fail');
  };

  before(async () => {
    operator = await Operator.connect();
    client = await amqp.connect(AMQP_URL);
    client.on('error', () => {});
  });
  after(async () => {
    for (const name of queues) await operator.channel.deleteQueue(name);
    await client.close().catch(() => {});
    await operator.close();
  });

  it('a queue declared with other arguments: refused, naming the argument and the fix', async () => {
    const q = queue('inequivalent');
    await operator.channel.assertQueue(q, { durable: true });
    const error = await failure((channel) => channel.assertQueue(q, { durable: true, arguments: { 'x-dead-letter-exchange': '' } }));
    assert.equal(replyCode(error), 406);
    assert.equal(amqpOperation(error, 'fallback'), 'queue.declare');
    const reason = brokerReason(error);
    assert.match(reason, new RegExp(`^PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue '${q.replace(/\./g, '\\.')}'`));
    assert.doesNotMatch(reason, /"/, 'the reply text alone, without amqplib’s quotes');
    const fix = `delete the queue (rabbitmqctl delete_queue ${q}; its messages go with it) or set VIP_QUEUE to another name`;
    assert.deepEqual(queueFailure(q, error, 'VIP_QUEUE'), {
      msg: 'queue exists with other arguments; not using it',
      problem: `queue ${q} exists with another x-dead-letter-exchange than this service declares; ${fix}`,
      operation: 'queue.declare',
      queue: q,
      argument: 'x-dead-letter-exchange',
      reason,
      fix,
    });
    assert.match(queueFailure(q, error).problem, /or set the queue name setting to another name$/);
  });

  it('a queue held exclusively by another connection: not usable, consuming is what failed', async () => {
    const q = queue('locked');
    await operator.channel.assertQueue(q, { exclusive: true });
    const error = await failure((channel) => channel.consume(q, () => {}));
    assert.equal(replyCode(error), 405);
    assert.equal(amqpOperation(error, 'fallback'), 'basic.consume');
    const reason = brokerReason(error);
    assert.match(reason, /^RESOURCE_LOCKED - cannot obtain exclusive access to locked queue/);
    assert.deepEqual(queueFailure(q, error), { msg: 'queue not usable; retrying', problem: `queue ${q} not usable: ${reason}`, operation: 'basic.consume', queue: q, reason });
  });

  it('another precondition failing (a queue not empty): not usable, not taken for other arguments', async () => {
    const q = queue('not-empty');
    await operator.channel.assertQueue(q, { durable: true });
    await operator.publish(q, 'x');
    const error = await failure((channel) => channel.deleteQueue(q, { ifEmpty: true }));
    assert.equal(replyCode(error), 406);
    assert.equal(amqpOperation(error, 'fallback'), 'queue.delete');
    const failed = queueFailure(q, error);
    assert.equal(failed.msg, 'queue not usable; retrying');
    assert.match(failed.problem, new RegExp(`^queue ${q.replace(/\./g, '\\.')} not usable: PRECONDITION_FAILED - queue .* not empty$`));
    assert.equal(failed.argument, undefined);
  });

  it('a missing queue whose name reads like the refusal: not usable, for no 406 came with it', async () => {
    const q = testQueue("inequivalent arg 'x-max-length'");
    const error = await failure((channel) => channel.checkQueue(q));
    assert.equal(replyCode(error), 404);
    const failed = queueFailure(q, error);
    assert.equal(failed.msg, 'queue not usable; retrying');
    assert.ok(failed.problem.startsWith(`queue ${q} not usable: NOT_FOUND - no queue '${q}' in vhost`), failed.problem);
    assert.equal(failed.argument, undefined);
  });

  it('no broker there: the network’s words, no reply code, the caller’s operation', async () => {
    const error = await amqp.connect(`amqp://guest:guest@127.0.0.1:${await freePort()}`).then(
      () => assert.fail('connected'),
      (e: Error) => e,
    );
    assert.match(brokerReason(error), /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    assert.equal(replyCode(error), undefined);
    assert.equal(amqpOperation(error, 'queue.declare'), 'queue.declare');
    assert.deepEqual(queueFailure('q', error), {
      msg: 'queue not usable; retrying',
      problem: `queue q not usable: ${error.message}`,
      operation: 'queue.declare',
      queue: 'q',
      reason: error.message,
    });
  });
});

describe('A virtual host the broker refuses', () => {
  it('is named as such, where amqplib keeps no reason', async () => {
    const url = new URL(AMQP_URL);
    url.pathname = `/no-such-vhost-${process.pid}`;
    const error = await amqp.connect(url.href).then(
      async (connection) => (await connection.close(), assert.fail('connected')),
      (e: Error) => e,
    );
    assert.match(error.message, /^Expected ConnectionOpenOk; got <ConnectionClose/, 'amqplib’s own words');
    assert.match(brokerReason(error), /^the broker refused connection\.open without a reason amqplib keeps: the virtual host in AMQP_URL may not exist, /);
  });
});

describe('Reading an error’s text', () => {
  it('takes the reply text from the end of the message, whatever it holds', () => {
    assert.equal(brokerReason(new Error('Channel closed by server: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason \'shutdown\'"')), "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
    assert.equal(brokerReason(new Error('Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - a\nb"')), 'NOT_FOUND - a\nb', 'across lines');
    assert.equal(brokerReason(new Error('with message "x" and more')), 'with message "x" and more', 'only at the end');
    assert.equal(brokerReason('socket closed'), 'socket closed', 'not an Error');
    assert.equal(brokerReason(undefined), 'undefined');
  });

  it('reads the reply code from the message when the error carries none', () => {
    assert.equal(replyCode(Object.assign(new Error('x'), { code: 320 })), 320);
    assert.equal(replyCode(Object.assign(new Error('Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "x"'), { code: 'ECONNRESET' })), 404);
    assert.equal(replyCode(new Error('406 (PRECONDITION-FAILED) with message "x"')), 406, 'at the start');
    assert.equal(replyCode(new Error('Operation failed: BasicConsume; 405 (RESOURCE-LOCKED) with message "x"')), 405);
    assert.equal(replyCode(new Error('port 5672 (the default)')), undefined, 'three digits, but not after "; " nor at the start');
    assert.equal(replyCode(new Error('1406 (X)')), undefined, 'three digits, not the end of a longer number');
    assert.equal(replyCode(new Error('40 (X)')), undefined);
    assert.equal(replyCode(new Error('406(X)')), undefined);
    assert.equal(replyCode({ message: '406 (PRECONDITION-FAILED)' }), undefined, 'the message of an Error only');
  });

  it('names the AMQP method in the protocol’s spelling, every word of it', () => {
    assert.equal(amqpOperation(new Error('Operation failed: ConnectionUpdateSecret; 530 (NOT-ALLOWED)'), 'f'), 'connection.update-secret');
    assert.equal(amqpOperation(new Error('Operation failed: BasicQos; 540'), 'f'), 'basic.qos');
    assert.equal(amqpOperation(new Error('Operation failed: QueueDeclare 404'), 'f'), 'f', 'no semicolon, no method');
    assert.equal(amqpOperation(new Error('Operation failed: queueDeclare; 404'), 'f'), 'f');
    assert.equal(amqpOperation(new Error('Operation failed: Queue; 404'), 'f'), 'f', 'a class without a method');
    assert.equal(amqpOperation({ message: 'Operation failed: QueueDeclare; 404' }, 'f'), 'f', 'the message of an Error only');
  });
});
