/**
 * The outbox against real LMDB and the machine's RabbitMQ (queues of its own): when the
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
import { openStore, type Store } from './storage.ts';

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
    { q = testQueue('outbox'), store = storeOf(q), backoff = FAST_BACKOFF }: { q?: string; store?: Store; backoff?: typeof FAST_BACKOFF } = {},
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
});
