import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryExporter } from '../../lib/tracing/exporter.ts';
import { createLogger } from '../../lib/log.ts';
import type { DeliveredMessage } from '../../lib/messaging.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { handleVipNotification, isVipNotification } from './notifications.ts';

function delivery(body: unknown, messageId: string | undefined, lines: any[]): DeliveredMessage {
  const tracing = new Tracing({ serviceName: 'vipservice', exporter: createMemoryExporter() });
  const log = createLogger({ service: 'vipservice' }, { write: (line) => lines.push(JSON.parse(line)) });
  return { body, messageId, redelivered: false, span: tracing.rootSpan('consume', { kind: 'CONSUMER' }), log };
}

describe('VIP notifications', () => {
  it('recognises {"accountId","readAt"}', () => {
    assert.ok(isVipNotification({ accountId: '10000', readAt: '2026-01-01T00:00:00Z' }));
    for (const bad of [null, 'x', {}, { accountId: 10000, readAt: 'x' }, { accountId: '1' }]) assert.ok(!isVipNotification(bad));
  });

  it('handles each message id once, and rejects what is not a notification', async () => {
    const lines: any[] = [];
    const handle = handleVipNotification({ rememberIds: 2 });
    const body = { accountId: '10000', readAt: '2026-01-01T00:00:00Z' };
    await handle(delivery(body, 'a', lines));
    await handle(delivery(body, 'a', lines));
    await handle(delivery(body, 'b', lines));
    await handle(delivery(body, 'c', lines));
    await handle(delivery(body, 'a', lines)); // forgotten: only the last two ids are remembered
    assert.deepEqual(lines.map((l) => `${l.msg}:${l.messageId}`), [
      'VIP notification received:a',
      'duplicate VIP notification ignored:a',
      'VIP notification received:b',
      'VIP notification received:c',
      'VIP notification received:a',
    ]);
    await assert.rejects(handle(delivery({ nope: true }, 'd', lines)), /not a VIP notification/);
  });
});
