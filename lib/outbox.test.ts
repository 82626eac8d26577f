/**
 * The outbox against real LMDB and the test run's RabbitMQ (queues of its own): when the
 * PRODUCER span ends, what is kept and published later, a restart, and a disk that
 * refuses the write.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, until } from '../tools/wait.ts';
import { Broker } from './messaging.ts';
import { AMQP_URL, FAST_BACKOFF, observed, Operator, testQueue, type Observed } from './messaging.testing.ts';
import { Outbox } from './outbox.ts';
import type { LogFields, Logger, LogLevel } from './log.ts';
import { openStore, openTable, type Store } from './storage.ts';

const run = promisify(execFile);

describe('Outbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-test-'));
  let operator: Operator;
  const queues: string[] = [];
  const closing: Array<() => Promise<void> | void> = [];

  /** A store of the queue's own (a directory name without dots, which lmdb-js would take for a file's). */
  const storeOf = (q: string) => openStore(join(dir, q.replaceAll('.', '-')));
  /** An outbox on a store of its own, publishing to a queue of its own. */
  const outboxFor = (
    seen: Observed,
    url = AMQP_URL,
    { q = testQueue('outbox'), store = storeOf(q), backoff = FAST_BACKOFF }: { q?: string; store?: Store; backoff?: { initialDelayMs?: number; maxDelayMs?: number } } = {},
  ) => {
    queues.push(q);
    const broker = new Broker({ url, log: seen.log, tracing: seen.tracing, publishesTo: [q], backoff: FAST_BACKOFF });
    const outbox = new Outbox({ store, broker, queue: q, log: seen.log, backoff });
    const close = async () => {
      await outbox.close();
      await broker.close();
      await store.close();
    };
    closing.push(close);
    return { q, store, broker, outbox, close };
  };
  const finished = (seen: Observed, kind: string) => {
    const span = seen.spans.find((s) => s.kind === kind);
    assert.ok(span, `the ${kind} span ended`);
    return span;
  };
  /** When each refusal `matches` was annotated on the PRODUCER span, in ms: their gaps show the backoff. */
  const refusalTimes = (seen: Observed, matches = (value: string) => value.startsWith('not published')) =>
    finished(seen, 'PRODUCER')
      .annotations.filter((a: { value: string }) => matches(a.value))
      .map((a: { timestamp: number }) => a.timestamp / 1000);

  before(async () => {
    operator = await Operator.connect();
  });
  after(async () => {
    for (const close of closing) await close();
    for (const q of queues) await operator.remove(q);
    await operator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends the PRODUCER span at the broker’s confirm while the request still waits', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen);
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const request = seen.tracing.rootSpan('get /accounts/:accountid', { kind: 'SERVER' });
    let answered!: () => void;
    const downstream = new Promise<void>((resolve) => (answered = resolve));

    await outbox.enqueue({ n: 1 }, request, { window: downstream }); // resolves at the confirm: the downstream calls still run
    const producer = finished(seen, 'PRODUCER');
    assert.equal(producer.parentId, request.spanId);
    assert.deepEqual(producer.annotations ?? [], [], 'confirmed in time: nothing to say');
    answered();
    request.finish();
    await until(() => outbox.size === 0, 10_000, 'removed from the outbox');
    assert.equal((await operator.channel.checkQueue(q)).messageCount, 1);
  });

  it('ends the span when the request stops waiting, with a basic.nack seen meanwhile on it; logs what happens later with the message’s ids', async () => {
    const seen = observed();
    // Publishing again waits a second: long enough for the held queue to be gone when it does. A message
    // routed to a queue at the moment it is deleted is confirmed and lost with it (RabbitMQ confirms what a
    // deleted queue held), the broker's semantics rather than what this test is about.
    const { q, broker, outbox } = outboxFor(seen, AMQP_URL, { backoff: { initialDelayMs: 1000, maxDelayMs: 1000 } });
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const holder = await Operator.connect();
    await holder.hold(q); // every message refused (basic.nack) until released
    const request = seen.tracing.rootSpan('get /accounts/:accountid', { kind: 'SERVER' });
    let answered!: () => void;
    const downstream = new Promise<void>((resolve) => (answered = resolve));

    const enqueued = outbox.enqueue({ n: 2 }, request, { window: downstream });
    const refused = 'outbox message not published; kept, publishing again with backoff';
    await until(() => seen.logged(refused).length === 1, 10_000, 'the nack');
    answered(); // the downstream calls are done: the request answers now
    await enqueued;
    request.finish();
    const producer = finished(seen, 'PRODUCER');
    assert.deepEqual(
      producer.annotations.map((a: { value: string }) => a.value),
      ['not published: basic.nack: RabbitMQ did not take the message; kept in the outbox', 'waits in the outbox'],
    );
    const server = finished(seen, 'SERVER');
    assert.ok(producer.timestamp + producer.duration <= server.timestamp + server.duration, 'no longer than its request');
    assert.equal(outbox.size, 1, 'kept');
    const [nacked] = seen.logged(refused);
    assert.equal(nacked!.traceId, producer.traceId);
    assert.equal(nacked!.messageId, producer.tags['messaging.message.id']);

    await holder.close(); // the held queue goes: the next attempt comes back (basic.return), the queue is declared again
    await until(() => seen.logged('outbox publishing again').length === 1, 10_000, 'published');
    assert.equal(outbox.size, 0);
    const [returned] = seen.logged(refused).slice(1);
    assert.match(returned?.reason, /^basic\.return 312 NO_ROUTE/);
    const [published] = seen.logged('outbox message published').filter((line) => line.afterRequest);
    assert.equal(published?.level, 'info', 'published after its request, after a refusal: worth a line');
    assert.equal(published?.traceId, producer.traceId);
    assert.equal(published?.spanId, producer.id);
    assert.equal(published?.messageId, producer.tags['messaging.message.id']);
    const delivered = await operator.channel.get(q, { noAck: true });
    assert.ok(delivered);
    assert.equal(delivered.properties.messageId, producer.tags['messaging.message.id']);
  });

  it('publishes in order, after a restart, what the process before committed', async () => {
    const seen = observed();
    const q = testQueue('restart');
    // The first process commits three messages while no broker is reachable, then goes.
    const first = outboxFor(seen, `amqp://guest:guest@127.0.0.1:${await freePort()}`, { q });
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    for (const n of [1, 2, 3]) await first.outbox.enqueue({ n }, request);
    assert.equal(first.outbox.size, 3);
    await first.close();

    const again = observed();
    const second = outboxFor(again, AMQP_URL, { q, store: storeOf(q) });
    assert.equal(again.logged('outbox has messages from before; publishing when the broker is ready')[0]?.pending, 3);
    await until(() => second.outbox.size === 0, 10_000, 'published');
    const bodies = [];
    for (let message; (message = await operator.channel.get(q, { noAck: true })); ) bodies.push(JSON.parse(message.content.toString()));
    assert.deepEqual(bodies, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(
      again.logged('outbox message published').map((line) => [line.level, line.afterRequest]),
      [['info', true], ['info', true], ['info', true]],
      'published after their requests, after a restart: worth a line each',
    );

    // Once the outbox is empty, a confirm after its request is routine again.
    await second.outbox.enqueue({ n: 4 }, again.tracing.rootSpan('request', { kind: 'SERVER' }));
    await until(() => second.outbox.size === 0, 10_000, 'published');
    assert.deepEqual(again.logged('outbox message published').slice(3).map((line) => [line.level, line.afterRequest]), [['debug', true]]);
  });

  it('keeps its entries in the store’s table outbox, where a restarted or updated service finds them', async () => {
    const seen = observed();
    const deadBroker = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    const { store, outbox } = outboxFor(seen, deadBroker);
    await outbox.enqueue({ n: 1 }, seen.tracing.rootSpan('request', { kind: 'SERVER' }));
    assert.deepEqual(
      [...openTable<{ body: unknown }, number>(store, 'outbox').getRange()].map(({ value }) => value.body),
      [{ n: 1 }],
    );
  });

  it('a commit LMDB cannot write (file size limit) rejects enqueue with LMDB’s reason, ends the span failed, and the process lives on', async () => {
    // A process of its own under `ulimit -f` (1 MiB): LMDB's file cannot grow past it.
    const script = `
      import { Broker } from './lib/messaging.ts';
      import { observed } from './lib/messaging.testing.ts';
      import { Outbox } from './lib/outbox.ts';
      import { openStore } from './lib/storage.ts';
      const [dir, url] = process.argv.slice(-2);
      const seen = observed('accountservice');
      const broker = new Broker({ url, log: seen.log, tracing: seen.tracing, publishesTo: ['q'] });
      const outbox = new Outbox({ store: openStore(dir), broker, queue: 'q', log: seen.log });
      const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
      let committed = 0;
      let failure;
      while (!failure && committed < 10000) {
        await outbox.enqueue({ padding: 'x'.repeat(1000) }, request).then(() => committed++, (error) => (failure = error.message));
      }
      await new Promise((resolve) => setImmediate(resolve)); // a turn for lmdb-js's own rejections to surface
      const failed = seen.spans.filter((span) => span.kind === 'PRODUCER' && span.tags.error);
      console.log(JSON.stringify({ committed, failure, size: outbox.size, failed }));
      await outbox.close();
      await broker.close();
    `;
    const deadBroker = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    const { stdout } = await run(
      'sh',
      ['-c', `ulimit -f 2048; exec "${process.execPath}" --import tsx --input-type=module --eval "$0" "$@"`, script, join(dir, 'full'), deadBroker],
      { cwd: join(import.meta.dirname, '..') },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.ok(result.committed > 100, `wrote until the limit (${result.committed})`);
    assert.match(result.failure, /^LMDB commit failed: (File too large|Input\/output error)/);
    assert.equal(result.size, result.committed, 'what was committed is kept, nothing else');
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0].tags.error, result.failure);
  });

  it('a message the store will not take (a full volume) goes straight to the queue while the broker takes messages, the span saying so', async () => {
    // As above, under `ulimit -f`: another table fills the file first, so the outbox's commit fails.
    const q = testQueue('outbox-unstored');
    queues.push(q);
    const script = `
      import { Broker } from './lib/messaging.ts';
      import { observed } from './lib/messaging.testing.ts';
      import { Outbox } from './lib/outbox.ts';
      import { committed, openStore, openTable, storeWriteProblem } from './lib/storage.ts';
      import { until } from './tools/wait.ts';
      const [dir, url, q] = process.argv.slice(-3);
      const seen = observed('accountservice');
      const store = openStore(dir, 'DATA_DIR', seen.log);
      const filler = openTable(store, 'filler');
      for (let i = 0; ; i++) {
        try {
          await committed(filler.put(i, 'x'.repeat(1000)), store);
        } catch {
          break;
        }
      }
      const broker = new Broker({ url, log: seen.log, tracing: seen.tracing, publishesTo: [q] });
      const outbox = new Outbox({ store, broker, queue: q, log: seen.log });
      await until(() => broker.ready(q), 10_000, 'the broker to be ready');
      const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
      let failure;
      // Larger than a page: it needs pages of its own, which the full file cannot give.
      // The request's own calls take a while: time for the broker's confirm.
      const window = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
      await outbox.enqueue({ accountId: '10000', note: 'x'.repeat(8000) }, request, { window }).catch((error) => (failure = error.message));
      const producer = seen.spans.find((span) => span.kind === 'PRODUCER');
      const writeProblem = storeWriteProblem(store);
      console.log(JSON.stringify({ failure, size: outbox.size, producer, writeProblem }));
      await outbox.close();
      await broker.close();
    `;
    const { stdout } = await run(
      'sh',
      ['-c', `ulimit -f 2048; exec "${process.execPath}" --import tsx --input-type=module --eval "$0" "$@"`, script, join(dir, 'unstored'), AMQP_URL, q],
      { cwd: join(import.meta.dirname, '..') },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(result.failure, undefined, 'enqueue resolved');
    assert.equal(result.size, 0, 'nothing in the outbox');
    assert.match(result.writeProblem ?? '', /^writes fail since \S+: LMDB commit failed: (File too large|Input\/output error)/);
    const values = result.producer.annotations.map((a: { value: string }) => a.value);
    assert.ok(values.some((v: string) => /^not stored \(LMDB commit failed: .+\): sent without the outbox$/.test(v)), values.join(' | '));
    assert.equal(result.producer.tags.error, undefined);
    assert.ok(!values.includes("awaits the broker's confirm"), 'confirmed while the request waited');
    const delivered = await operator.channel.get(q, { noAck: true });
    assert.ok(delivered, 'the queue holds the message');
    assert.deepEqual(JSON.parse(delivered.content.toString()), { accountId: '10000', note: 'x'.repeat(8000) });
    assert.equal(delivered.properties.messageId, result.producer.tags['messaging.message.id']);
  });

  /**
   * Holds `q` as Operator.hold does, every message refused with basic.nack, and counts the
   * attempts: RabbitMQ dead-letters a copy of each message it refuses (reject-publish-dlx).
   */
  const holdCounting = async (q: string) => {
    const holder = await Operator.connect();
    const refusedCopies = `${q}.refused`;
    await holder.channel.deleteQueue(q);
    await holder.channel.assertQueue(refusedCopies, { exclusive: true });
    await holder.channel.assertQueue(q, {
      exclusive: true,
      arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': refusedCopies },
    });
    return { attempts: async () => (await holder.channel.checkQueue(refusedCopies)).messageCount, release: () => holder.close() };
  };
  const refused = 'outbox message not published; kept, publishing again with backoff';

  it('publishes again after a refusal with a backoff doubling from initialDelayMs up to maxDelayMs, and says so once', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen, AMQP_URL, { backoff: { initialDelayMs: 150, maxDelayMs: 600 } });
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const held = await holdCounting(q);
    const request = seen.tracing.rootSpan('get /accounts/:accountid', { kind: 'SERVER' });
    let answered!: () => void;
    const enqueued = outbox.enqueue({ n: 1 }, request, { window: new Promise<void>((resolve) => (answered = resolve)) });
    await until(async () => (await held.attempts()) >= 5, 10_000, 'five refused attempts');
    await held.release(); // the next attempt comes back (basic.return); the queue, declared again, takes the one after
    await until(() => seen.logged('outbox publishing again').length === 1, 10_000, 'published');
    assert.equal(outbox.size, 0);
    answered();
    await enqueued;

    // Each refusal is on the PRODUCER span (its request still waited): their times show the backoff.
    const nacks = refusalTimes(seen, (value) => value === 'not published: basic.nack: RabbitMQ did not take the message; kept in the outbox');
    assert.ok(nacks.length >= 5, String(nacks.length));
    const gaps = nacks.slice(1, 5).map((at: number, i: number) => at - nacks[i]);
    for (const [i, least] of [150, 300, 600, 600].entries()) assert.ok(gaps[i] >= least - 2, `gap ${i + 1}: ${gaps[i]} ms, at least ${least}`);
    assert.ok(gaps[0] < 500, `the first gap near initialDelayMs: ${gaps[0]} ms`);
    assert.ok(gaps[3] < 1100, `capped at maxDelayMs: ${gaps[3]} ms`);

    assert.deepEqual(
      seen.logged(refused).map((line) => line.reason.split(' ')[0]),
      ['basic.nack:', 'basic.return'],
      'one line per reason, however often it is refused',
    );
    const [again] = seen.logged('outbox publishing again');
    assert.equal(again?.pending, 0);
    assert.deepEqual(
      seen.logged('outbox message published').map((line) => [line.level, line.afterRequest]),
      [['debug', false]],
      'published while its request still waited: its span shows it',
    );
  });

  it('waits at least 100 ms before publishing again by default', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen, AMQP_URL, { backoff: {} });
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const held = await holdCounting(q);
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    let answered!: () => void;
    const enqueued = outbox.enqueue({ n: 1 }, request, { window: new Promise<void>((resolve) => (answered = resolve)) });
    await until(async () => (await held.attempts()) >= 3, 10_000, 'three refused attempts');
    await outbox.close();
    answered();
    await enqueued;
    await held.release();
    const nacks = refusalTimes(seen);
    assert.ok(nacks[1] - nacks[0] >= 98, `${nacks[1] - nacks[0]} ms`);
    assert.ok(nacks[2] - nacks[1] >= 198, `${nacks[2] - nacks[1]} ms`);
  });

  it('logs a message’s commit and a routine confirm at debug, with its ids and the time it waited', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen);
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    await outbox.enqueue({ n: 1 }, request); // no window: the request stops waiting at the commit
    await until(() => outbox.size === 0, 10_000, 'published');
    const producer = finished(seen, 'PRODUCER');
    const ids = { traceId: producer.traceId, spanId: producer.id, messageId: producer.tags['messaging.message.id'], queue: q };
    const [committedLine] = seen.logged('outbox message committed');
    assert.deepEqual([committedLine?.level, committedLine?.pending], ['debug', 1]);
    const idsOf = (line?: Record<string, any>) => ({ traceId: line?.traceId, spanId: line?.spanId, messageId: line?.messageId, queue: line?.queue });
    assert.deepEqual(idsOf(committedLine), ids);
    const [published] = seen.logged('outbox message published');
    assert.equal(published?.level, 'debug', 'a confirm after the answer is routine');
    assert.equal(published?.afterRequest, true);
    assert.deepEqual(idsOf(published), ids);
    assert.ok(published!.waitedMs >= 0 && published!.waitedMs < 10_000, String(published?.waitedMs));
    assert.deepEqual(seen.logged('outbox has messages from before; publishing when the broker is ready'), []);
    assert.deepEqual(seen.logged('outbox publishing again'), []);
  });

  it('made once the broker is ready, logs a routine confirm at debug', async () => {
    const seen = observed();
    const q = testQueue('outbox-late');
    queues.push(q);
    const broker = new Broker({ url: AMQP_URL, log: seen.log, tracing: seen.tracing, publishesTo: [q], backoff: FAST_BACKOFF });
    const store = storeOf(q);
    closing.push(async () => {
      await broker.close();
      await store.close();
    });
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const outbox = new Outbox({ store, broker, queue: q, log: seen.log, backoff: FAST_BACKOFF });
    closing.unshift(() => outbox.close());
    await outbox.enqueue({ n: 1 }, seen.tracing.rootSpan('request', { kind: 'SERVER' }));
    await until(() => outbox.size === 0, 10_000, 'published');
    assert.deepEqual(seen.logged('outbox message published').map((line) => [line.level, line.afterRequest]), [['debug', true]]);
  });

  it('keeps a message enqueued before the broker is ready without trying it, and publishes it once ready, at info', async () => {
    const seen = observed();
    const { outbox } = outboxFor(seen);
    await outbox.enqueue({ n: 1 }, seen.tracing.rootSpan('request', { kind: 'SERVER' })); // still connecting
    assert.equal(outbox.size, 1);
    await until(() => outbox.size === 0, 10_000, 'published');
    assert.deepEqual(seen.logged(refused), [], 'not tried before the broker was ready');
    assert.deepEqual(seen.logged('outbox message published').map((line) => [line.level, line.afterRequest]), [['info', true]]);
  });

  it('makes no debug line when the level leaves debug out', async () => {
    const seen = observed();
    const asked: Array<[LogLevel, string]> = [];
    const level = (name: LogLevel) => (msg: string, _fields?: LogFields) => void asked.push([name, msg]);
    const infoAndUp: Logger = {
      debug: level('debug'),
      info: level('info'),
      warn: level('warn'),
      error: level('error'),
      enabled: (l) => l !== 'debug',
      child: () => infoAndUp,
    };
    const q = testQueue('outbox-info');
    queues.push(q);
    const broker = new Broker({ url: AMQP_URL, log: seen.log, tracing: seen.tracing, publishesTo: [q], backoff: FAST_BACKOFF });
    const store = storeOf(q);
    const outbox = new Outbox({ store, broker, queue: q, log: infoAndUp, backoff: FAST_BACKOFF });
    closing.push(async () => {
      await outbox.close();
      await broker.close();
      await store.close();
    });
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    await outbox.enqueue({ n: 1 }, seen.tracing.rootSpan('request', { kind: 'SERVER' }));
    await until(() => outbox.size === 0, 10_000, 'published');
    assert.deepEqual(asked, []);
  });

  it('once closed publishes nothing more, and lets a request waiting on its message go', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen);
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    let waited = false;
    const enqueued = outbox.enqueue({ n: 1 }, request, { window: new Promise(() => {}) }).then(() => (waited = true));
    await until(() => outbox.size === 1, 10_000, 'committed');
    await outbox.close();
    await until(() => waited, 5_000, 'the request let go');
    await enqueued;
    assert.deepEqual(finished(seen, 'PRODUCER').annotations.map((a: { value: string }) => a.value), ['waits in the outbox']);
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    await outbox.flush();
    assert.equal(outbox.size, 1, 'kept for the next process');
  });

  it('rejects a message the store cannot take, with the store’s reason, and ends its span failed', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen);
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    await assert.rejects(outbox.enqueue({ n: 2n ** 70n }, request), /too large to fit in MessagePack/);
    const producer = finished(seen, 'PRODUCER');
    assert.match(producer.tags.error, /too large to fit in MessagePack/);
    assert.equal(producer.annotations, undefined, 'it waited for nothing');
    assert.equal(outbox.size, 0);
    await outbox.enqueue({ n: 1 }, request);
    await until(() => outbox.size === 0, 10_000, 'the next one published');
  });

  it('flush waits for the publishing under way, as a stopping service needs', async () => {
    const seen = observed();
    const { q, broker, outbox } = outboxFor(seen);
    await until(() => broker.ready(q), 10_000, 'the queue declared');
    await outbox.enqueue({ n: 1 }, seen.tracing.rootSpan('request', { kind: 'SERVER' })); // resolves at the commit
    assert.equal(outbox.size, 1, 'the confirm is still to come');
    await outbox.flush();
    assert.equal(outbox.size, 0);
  });

  it('keeps its backoff when another queue of the broker becomes ready', async () => {
    const seen = observed();
    const q = testQueue('outbox-backoff');
    const other = testQueue('outbox-other');
    queues.push(q, other);
    const broker = new Broker({ url: AMQP_URL, log: seen.log, tracing: seen.tracing, publishesTo: [q, other], backoff: FAST_BACKOFF });
    const store = storeOf(q);
    const outbox = new Outbox({ store, broker, queue: q, log: seen.log, backoff: { initialDelayMs: 1000, maxDelayMs: 1000 } });
    closing.push(async () => {
      await outbox.close();
      await broker.close();
      await store.close();
    });
    await until(() => broker.ready(q) && broker.ready(other), 10_000, 'the queues declared');
    const held = await holdCounting(q);
    const request = seen.tracing.rootSpan('request', { kind: 'SERVER' });
    let answered!: () => void;
    const enqueued = outbox.enqueue({ n: 1 }, request, { window: new Promise<void>((resolve) => (answered = resolve)) });
    await until(async () => (await held.attempts()) === 1, 10_000, 'the first refusal');
    // The other queue goes and comes back: a send to it returns, and the broker declares it again.
    await operator.delete(other);
    await assert.rejects(broker.send(other, { n: 0 }, { messageId: 'other', headers: {} }), /basic\.return/);
    await until(() => broker.ready(other), 10_000, 'the other queue declared again');
    await until(async () => (await held.attempts()) === 2, 10_000, 'the second attempt');
    await outbox.close();
    answered();
    await enqueued;
    await held.release();
    const nacks = refusalTimes(seen);
    assert.ok(nacks[1] - nacks[0] >= 998, `tried again after ${nacks[1] - nacks[0]} ms`);
  });
});
