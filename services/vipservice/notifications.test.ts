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

function delivery(body: unknown, messageId: string | undefined, lines: any[]): DeliveredMessage {
  const tracing = new Tracing({ serviceName: 'vipservice', exporter: createMemoryExporter() });
  const log = createLogger({ service: 'vipservice' }, { write: (line) => lines.push(JSON.parse(line)) });
  return { body, messageId, redelivered: false, span: tracing.rootSpan('consume', { kind: 'CONSUMER' }), log };
}

describe('VIP notifications', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vip-inbox-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('recognises {"accountId","readAt"}', () => {
    assert.ok(isVipNotification({ accountId: '10000', readAt: '2026-01-01T00:00:00Z' }));
    for (const bad of [null, 'x', {}, { accountId: 10000, readAt: 'x' }, { accountId: '1' }]) assert.ok(!isVipNotification(bad));
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
});
