import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Inbox } from '../../lib/inbox.ts';
import { createLogger } from '../../lib/log.ts';
import type { DeliveredMessage } from '../../lib/messaging.ts';
import { openStore } from '../../lib/storage.ts';
import { createMemoryExporter } from '../../lib/tracing/exporter.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { handleVipNotification, isVipNotification } from './notifications.ts';

function delivery(body: unknown, messageId: string | undefined, lines: any[], exporter = createMemoryExporter()): DeliveredMessage {
  const tracing = new Tracing({ serviceName: 'vipservice', exporter });
  const log = createLogger({ service: 'vipservice' }, { write: (line) => lines.push(JSON.parse(line)) });
  return { body, messageId, redelivered: false, span: tracing.rootSpan('consume', { kind: 'CONSUMER' }), log };
}

describe('VIP notifications', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vip-inbox-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('recognises {"accountId","readAt"}', () => {
    assert.ok(isVipNotification({ accountId: '10000', readAt: '2026-01-01T00:00:00Z' }));
    assert.ok(isVipNotification({ accountId: '1', readAt: '2026-12-07T23:28:29.936Z' }));
    for (const bad of [undefined, null, 'x', 7, {}, { readAt: 'x' }, { accountId: 10000, readAt: 'x' }, { accountId: '1' }]) assert.ok(!isVipNotification(bad));
    // The right fields, with no account id (1 to 10 digits, as accountservice has them) or no time (ISO 8601, as it writes them) in them.
    const readAt = '2026-01-01T00:00:00Z';
    for (const accountId of ['', 'x', '12345678901', '10000 ', '1e4', '１0000', 'x'.repeat(100_000)]) assert.ok(!isVipNotification({ accountId, readAt }), accountId.slice(0, 20));
    for (const readAt of ['2024-02-29T00:00:00Z', '2000-02-29T23:59:59.999999999Z', '2026-12-31T00:00:00+05:30', '2026-01-31T00:00:00-12:00']) {
      assert.ok(isVipNotification({ accountId: '1', readAt }), readAt);
    }
    const noDays = ['2026-02-29T00:00:00Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '1900-02-29T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z'];
    const noTimes = ['2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00:00+24:00'];
    for (const time of ['', 'x', 'yesterday', '2026-13-01T00:00:00Z', '2026-01-01', '1767225600000', `2026-01-01T00:00:00Z${' '.repeat(100)}`, ...noDays, ...noTimes]) {
      assert.ok(!isVipNotification({ accountId: '10000', readAt: time }), time);
    }
  });

  it('handles each message id once, also in a new process on the same store, and rejects what is not a notification', async () => {
    const lines: any[] = [];
    const body = { accountId: '10000', readAt: '2026-01-01T00:00:00Z' };
    const first = openStore(join(dir, 'store'));
    const handle = handleVipNotification({ inbox: new Inbox({ store: first, capacity: 2 }) });
    // Two deliveries of one id at once: the second is a duplicate although the first is not on disk yet.
    await Promise.all([handle(delivery(body, 'a', lines)), handle(delivery(body, 'a', lines))]);
    await handle(delivery(body, 'b', lines));
    await first.close();

    // What a restarted vipservice sees: the ids handled before it.
    const again = openStore(join(dir, 'store'));
    const restarted = handleVipNotification({ inbox: new Inbox({ store: again, capacity: 2 }) });
    await restarted(delivery(body, 'b', lines));
    await restarted(delivery(body, 'c', lines));
    await restarted(delivery(body, 'a', lines)); // forgotten: only the last two ids are kept
    assert.deepEqual(lines.map((l) => `${l.msg}:${l.messageId}`), [
      'VIP notification received:a',
      'duplicate VIP notification ignored:a',
      'VIP notification received:b',
      'duplicate VIP notification ignored:b',
      'VIP notification received:c',
      'VIP notification received:a',
    ]);
    await assert.rejects(restarted(delivery({ nope: true }, 'd', lines)), /not a VIP notification/);
    await again.close();
  });

  it('tags the CONSUMER span with the account, or annotates it as a duplicate', async () => {
    const lines: any[] = [];
    const exporter = createMemoryExporter();
    const { spans } = exporter;
    const store = openStore(join(dir, 'spans'));
    const handle = handleVipNotification({ inbox: new Inbox({ store }) });
    for (const id of ['s', 's']) {
      const message = delivery({ accountId: '10000', readAt: '2026-01-01T00:00:00Z' }, id, lines, exporter);
      await handle(message);
      message.span.finish();
    }
    assert.deepEqual(spans[0]!.tags, { 'account.id': '10000' });
    assert.equal(spans[0]!.annotations, undefined);
    assert.deepEqual(spans[1]!.annotations.map((a: { value: string }) => a.value), ['duplicate ignored']);
    assert.equal(spans[1]!.tags, undefined);
    await store.close();
  });

  it('handles a message without an id every time it comes, recording nothing', async () => {
    const lines: any[] = [];
    const store = openStore(join(dir, 'no-id'));
    const inbox = new Inbox({ store });
    const handle = handleVipNotification({ inbox });
    const body = { accountId: '10000', readAt: '2026-01-01T00:00:00Z' };
    await handle(delivery(body, undefined, lines));
    await handle(delivery(body, undefined, lines));
    assert.deepEqual(lines.map((l) => l.msg), ['VIP notification received', 'VIP notification received']);
    assert.equal(inbox.size, 0);
    await store.close();
  });

  it('acknowledges a notification whose id LMDB cannot record, and says so', async () => {
    const lines: any[] = [];
    const store = openStore(join(dir, 'unrecorded'));
    const handle = handleVipNotification({ inbox: new Inbox({ store }) });
    const tooLong = 'x'.repeat(2000); // over LMDB's key size limit
    await handle(delivery({ accountId: '10000', readAt: '2026-01-01T00:00:00Z' }, tooLong, lines));
    assert.deepEqual(lines.map((l) => l.msg), ['VIP notification received', 'VIP notification handled but its id not recorded']);
    assert.equal(lines[1].level, 'error');
    assert.equal(lines[1].messageId, tooLong);
    assert.match(JSON.stringify(lines[1].error), /Key size is larger than the maximum key size/);
    await store.close();
  });
});
