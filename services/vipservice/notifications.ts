/** Handling of VIP notifications: `{"accountId","readAt"}` published when the VIP account is read. */
import type { DeliveredMessage } from '../../lib/messaging.ts';

export interface VipNotification {
  accountId: string;
  readAt: string;
}

export function isVipNotification(body: unknown): body is VipNotification {
  if (typeof body !== 'object' || body === null) return false;
  const { accountId, readAt } = body as Record<string, unknown>;
  return typeof accountId === 'string' && typeof readAt === 'string';
}

/**
 * A handler that logs each notification once: a redelivered message (same message
 * id, e.g. after a lost acknowledgement) is acknowledged without being handled again.
 */
export function handleVipNotification({ rememberIds = 10_000 } = {}) {
  const seen = new Set<string>();
  return async ({ body, messageId, redelivered, span, log }: DeliveredMessage): Promise<void> => {
    if (!isVipNotification(body)) throw new Error('not a VIP notification: expected {"accountId","readAt"}');
    if (messageId && seen.has(messageId)) {
      span.annotate('duplicate ignored');
      log.info('duplicate VIP notification ignored', { messageId });
      return;
    }
    span.tag('account.id', body.accountId);
    log.info('VIP notification received', { accountId: body.accountId, readAt: body.readAt, messageId, redelivered });
    if (messageId) {
      seen.add(messageId);
      // A Set iterates in insertion order: dropping the first entry forgets the oldest id.
      if (seen.size > rememberIds) seen.delete(seen.values().next().value!);
    }
  };
}
