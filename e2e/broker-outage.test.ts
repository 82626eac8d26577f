/**
 * Broker outages, on a RabbitMQ node of this file's own (never the broker at AMQP_URL):
 * no VIP notification is lost while the broker is down, nor when accountservice is
 * killed meanwhile, and the consumer joins each original trace however late.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPrivateBroker, watchBroker, type BrokerWatch, type PrivateBroker } from '../tools/rabbitmq-node.ts';
import { until } from '../tools/wait.ts';
import { amqpUrlClosedBy, only, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';

describe('broker outages, on a RabbitMQ node of its own', () => {
  let node: PrivateBroker;
  let nodeWatch: BrokerWatch;
  let landscape: TestLandscape;
  let accounts: string;

  const readVip = async (count: number) => {
    const reads = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const response = await fetch(`${accounts}/accounts/10000`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      reads.push({ traceId: traceIdOf(response), ms: performance.now() - started });
    }
    return reads;
  };
  const health = async () => (await (await fetch(`${accounts}/health`)).json()) as { status: string; details: { outbox: { pending: number } } };
  const vipLines = (msg: string) => landscape.logs.filter((l) => l.service === 'vipservice' && l.json?.msg === msg);
  const received = () => new Set(vipLines('VIP notification received').map((l) => l.json!.traceId));
  /** Waits until vipservice logged all of `traceIds`, and checks it did in that order, once each. */
  const allReceived = async (traceIds: string[]) => {
    await until(() => traceIds.every((id) => received().has(id)), 30_000, 'every notification at vipservice');
    const order = vipLines('VIP notification received').map((l) => l.json!.traceId).filter((id) => traceIds.includes(id as string));
    assert.deepEqual(order, traceIds, `${traceIds.length} of ${traceIds.length}, in the order sent, once each`);
  };
  /** Stops the node's broker for the time `work` takes, whatever happens in it. */
  const outage = async <T>(work: () => Promise<T>): Promise<T> => {
    await node.stopApp();
    try {
      await until(async () => (await fetch(`${accounts}/health`)).status === 503, 10_000, 'accountservice to see the broker gone');
      return await work();
    } finally {
      await node.startApp();
    }
  };

  before(async () => {
    node = await startPrivateBroker();
    nodeWatch = await watchBroker(node.url);
    landscape = await startTestLandscape('node', { amqpUrl: node.url });
    accounts = landscape.services.accountservice.url;
  });
  after(async () => {
    await landscape?.close();
    await nodeWatch?.close();
    await node?.close();
  });

  it('loses no VIP notification across a broker outage, and the consumer joins the original trace', async (t) => {
    const reads = await outage(async () => {
      const reads = await readVip(20);
      t.diagnostic(`VIP reads while the broker is down: slowest ${Math.max(...reads.map((r) => r.ms)).toFixed(0)} ms`);
      const down = await health();
      assert.equal(down.status, 'DOWN');
      assert.equal(down.details.outbox.pending, 20, 'notifications wait in the outbox');
      return reads;
    });
    const sent = reads.map((r) => r.traceId);
    await allReceived(sent);
    await until(async () => (await health()).details.outbox.pending === 0, 10_000, 'the outbox empty');

    // Each process exports on its own timer: wait for the whole shape, not its first piece.
    const spans = await waitForTrace(landscape.collector.url, sent[0]!, (s) => ['SERVER', 'PRODUCER', 'CONSUMER'].every((kind) => s.some((x) => x.kind === kind)));
    const server = only(spans, (s) => s.kind === 'SERVER' && s.localEndpoint?.serviceName === 'accountservice', 'server');
    const producer = only(spans, (s) => s.kind === 'PRODUCER', 'producer');
    assert.equal(only(spans, (s) => s.kind === 'CONSUMER', 'consumer').parentId, producer.id);
    assert.equal(producer.parentId, server.id);
    assert.ok(producer.annotations?.some((a) => a.value === 'waits in the outbox'), 'the producer span says the message waited');
    assert.ok(producer.timestamp! + producer.duration! <= server.timestamp! + server.duration!, 'and ended within its request');
    const published = landscape.logs.find((l) => l.service === 'accountservice' && l.json?.msg === 'outbox message published' && l.json.afterRequest === true && l.json.traceId === sent[0]);
    assert.equal(published?.json?.messageId, producer.tags?.['messaging.message.id'], 'the later outcome logged with the message’s ids');
  });

  it('publishes, after a restart, what accountservice had pending when it was killed (SIGKILL) during an outage', async () => {
    const sent = await outage(async () => {
      const reads = await readVip(10);
      assert.equal((await health()).details.outbox.pending, 10);
      await landscape.restart('accountservice', { signal: 'SIGKILL' });
      const restarted = landscape.logs.filter((l) => l.service === 'accountservice' && l.json?.msg === 'outbox has messages from before; publishing when the broker is ready');
      assert.equal(restarted.at(-1)?.json?.pending, 10, 'the new process found them on disk');
      return reads.map((r) => r.traceId);
    });
    await allReceived(sent);
    await until(async () => (await health()).details.outbox.pending === 0, 10_000, 'the outbox empty');
  });

  it('stops on SIGTERM during a resource alarm with exit 0 and one line saying what it keeps and why; the next process publishes it', async () => {
    const accountLines = (msg: string) => landscape.logs.filter((l) => l.service === 'accountservice' && l.json?.msg === msg);
    await node.ctl('set_vm_memory_high_watermark', '0.000001'); // RabbitMQ blocks publishers: no confirm comes
    let sent: string[];
    try {
      sent = (await readVip(1)).map((r) => r.traceId);
      const reason = async () => ((await (await fetch(`${accounts}/health`)).json()) as { reason?: string }).reason ?? '';
      await until(async () => /RabbitMQ blocks publishing: low on memory/.test(await reason()), 10_000, 'the block in /health');
      const stopping = performance.now();
      const code = await landscape.services.accountservice.stop('SIGTERM');
      const tookMs = performance.now() - stopping;
      assert.equal(code, 0, 'a clean stop, not the stop timeout');
      assert.ok(tookMs < 8000, `stopped in ${tookMs.toFixed(0)} ms, well within SHUTDOWN_TIMEOUT_MS (10 s)`);
      const [kept, ...more] = accountLines('outbox not flushed in time; its messages are kept for the next start');
      assert.deepEqual(more, []);
      assert.deepEqual([kept?.json?.level, kept?.json?.pending, kept?.json?.broker], ['warn', 1, 'RabbitMQ blocks publishing: low on memory']);
      assert.deepEqual(accountLines('stop timed out; exiting'), []);
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
    }
    await landscape.restart('accountservice');
    await allReceived(sent);
    await until(async () => (await health()).details.outbox.pending === 0, 10_000, 'the outbox empty');
  });

  it('stops cleanly during a resource alarm with a SHUTDOWN_TIMEOUT_MS shorter than the flush would take: the flush ends before the stop times out', async () => {
    const kept = () => landscape.logs.filter((l) => l.service === 'accountservice' && l.json?.msg === 'outbox not flushed in time; its messages are kept for the next start');
    const timedOut = () => landscape.logs.filter((l) => l.service === 'accountservice' && l.json?.msg === 'stop timed out; exiting');
    const [keptBefore, timedOutBefore] = [kept().length, timedOut().length];
    await landscape.restart('accountservice', { env: { SHUTDOWN_TIMEOUT_MS: '2000' } });
    await node.ctl('set_vm_memory_high_watermark', '0.000001');
    let sent: string[];
    try {
      sent = (await readVip(1)).map((r) => r.traceId);
      const reason = async () => ((await (await fetch(`${accounts}/health`)).json()) as { reason?: string }).reason ?? '';
      await until(async () => /RabbitMQ blocks publishing: low on memory/.test(await reason()), 10_000, 'the block in /health');
      assert.equal(await landscape.services.accountservice.stop('SIGTERM'), 0, 'a clean stop, not the stop timeout');
      assert.equal(kept().length, keptBefore + 1, 'one line saying what the outbox keeps');
      assert.ok(Number(kept().at(-1)?.json?.timeoutMs) < 2000, 'the flush bounded by the stop, not its own 2 s');
      assert.equal(timedOut().length, timedOutBefore);
    } finally {
      await node.ctl('set_vm_memory_high_watermark', '0.4');
    }
    await landscape.restart('accountservice', { env: { SHUTDOWN_TIMEOUT_MS: '10000' } });
    await allReceived(sent);
  });

  it('a watch on a broker notices its outages (so the one on AMQP_URL would), and the broker at AMQP_URL saw none', () => {
    assert.match(nodeWatch.closedBy ?? '', /CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'/);
    assert.equal(amqpUrlClosedBy(), undefined, 'the broker at AMQP_URL untouched while this file stopped its own');
  });
});
