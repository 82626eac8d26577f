/** Handling of VIP notifications: `{"accountId","readAt"}` published when the VIP account is read. */
import type { Inbox } from '../../lib/inbox.ts';
import type { DeliveredMessage } from '../../lib/messaging.ts';

export interface VipNotification {
  accountId: string;
  readAt: string;
}

/** An account id as accountservice has them: 1 to 10 digits. */
const ACCOUNT_ID = /^\d{1,10}$/;
/** A time as accountservice writes it (`Date.prototype.toISOString`), or with another offset. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

/** Whether `value` is such a time, of a day its month has (`Date.parse` takes February 30th for March 2nd). */
function isTime(value: string): boolean {
  const [year, month, day] = (ISO_TIME.exec(value) ?? []).slice(1, 4).map(Number);
  if (year === undefined || month === undefined || day === undefined) return false;
  // The calendar's own day: a day or month out of range rolls over into another.
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Whether `body` is a VIP notification: an account id (1 to 10 digits) and the time it was read
 * (ISO 8601). Anything else, the right fields holding something else included, is no notification
 * to handle (nor to log whole): it goes to the dead-letter queue.
 */
export function isVipNotification(body: unknown): body is VipNotification {
  if (typeof body !== 'object' || body === null) return false;
  const { accountId, readAt } = body as Record<string, unknown>;
  return (
    typeof accountId === 'string' && ACCOUNT_ID.test(accountId) &&
    typeof readAt === 'string' && isTime(readAt)
  );
}

/**
 * A handler that logs each notification once: a message delivered again (same message
 * id: its acknowledgement was lost, or this process restarted before sending it) is
 * acknowledged without being handled again. The id is on disk before the
 * acknowledgement goes out; see the README for what "once" means.
 */
export function handleVipNotification({ inbox }: { inbox: Inbox }) {
  return async ({ body, messageId, redelivered, span, log }: DeliveredMessage): Promise<void> => {
    if (!isVipNotification(body)) throw new Error('not a VIP notification: expected {"accountId","readAt"}');
    if (messageId && !inbox.claim(messageId)) {
      span.annotate('duplicate ignored');
      log.info('duplicate VIP notification ignored', { messageId, redelivered });
      return;
    }
    span.tag('account.id', body.accountId);
    log.info('VIP notification received', { accountId: body.accountId, readAt: body.readAt, messageId, redelivered });
    if (!messageId) return;
    try {
      await inbox.complete(messageId);
    } catch (error) {
      // Handled, so acknowledged; only a later redelivery of it would be handled again.
      log.error('VIP notification handled but its id not recorded', { messageId, error });
    }
  };
}
