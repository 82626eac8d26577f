/**
 * A durable outbox in front of the broker: a message is committed to LMDB first and
 * published from there, in order, as soon as the broker takes it, so a notification
 * survives a broker outage or a restart of this service. Each entry keeps its trace
 * headers, so the consumer continues the original request's trace however late.
 *
 * Delivery is at least once (a crash between the broker's confirm and the removal
 * publishes the entry again): consumers deduplicate by message id.
 */
import type { Logger } from './log.ts';
import { producerSpan, type Broker } from './messaging.ts';
import { openTable, type Store, type Table } from './storage.ts';
import type { Span } from './tracing/span.ts';

interface Entry {
  queue: string;
  body: unknown;
  messageId: string;
  headers: Record<string, string>;
  enqueuedAt: number;
}

export interface OutboxOptions {
  store: Store;
  broker: Broker;
  log: Logger;
  /** Pause before publishing again after a failed attempt. */
  retryDelayMs?: number;
}

export class Outbox {
  readonly #entries: Table<Entry, number>;
  readonly #broker: Broker;
  readonly #log: Logger;
  readonly #retryDelayMs: number;
  /** PRODUCER spans still open in this process, finished on the broker's confirm. */
  readonly #spans = new Map<string, Span>();
  #lastKey: number;
  #draining: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor({ store, broker, log, retryDelayMs = 500 }: OutboxOptions) {
    // Numeric keys sort numerically in LMDB: the key order is the publish order.
    this.#entries = openTable<Entry, number>(store, 'outbox');
    this.#broker = broker;
    this.#log = log;
    this.#retryDelayMs = retryDelayMs;
    const [last] = this.#entries.getKeys({ reverse: true, limit: 1 });
    this.#lastKey = last ?? 0;
    broker.onConnect(() => this.#drain());
    const pending = this.size;
    if (pending > 0) log.info('outbox has messages from before; publishing when the broker is ready', { pending });
  }

  /** Messages not yet confirmed by the broker. */
  get size(): number {
    return this.#entries.getCount();
  }

  /**
   * Records `body` for `queue` under a PRODUCER span below `parent`; resolves once it is
   * committed to disk. Publishing follows in the background.
   */
  async enqueue(queue: string, body: unknown, parent: Span): Promise<void> {
    const messageId = crypto.randomUUID();
    const { span, headers } = producerSpan(parent, queue, messageId);
    const key = Math.max(Date.now() * 1000, this.#lastKey + 1);
    this.#lastKey = key;
    this.#spans.set(messageId, span);
    try {
      await this.#entries.put(key, { queue, body, messageId, headers, enqueuedAt: Date.now() });
    } catch (error) {
      this.#spans.delete(messageId);
      span.fail(error);
      span.finish();
      throw error;
    }
    if (this.#log.enabled('debug')) {
      this.#log.debug('outbox: message committed', { traceId: span.traceId, spanId: span.spanId, queue, messageId, pending: this.size });
    }
    void this.#drain();
  }

  /** Publishes what is pending now, if the broker is there; resolves when done trying. */
  flush(): Promise<void> {
    return this.#drain();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    // Spans of messages still waiting end here; the messages themselves stay on disk.
    for (const span of this.#spans.values()) {
      span.annotate('still in the outbox at shutdown');
      span.finish();
    }
    this.#spans.clear();
  }

  #drain(): Promise<void> {
    this.#draining ??= this.#publishPending().finally(() => (this.#draining = undefined));
    return this.#draining;
  }

  async #publishPending(): Promise<void> {
    while (!this.#closed && this.#broker.connected) {
      const [next] = this.#entries.getRange({ limit: 1 });
      if (!next) return;
      const entry = next.value;
      try {
        await this.#broker.send(entry.queue, entry.body, entry);
      } catch (error) {
        this.#log.warn('outbox publish failed; will retry', { error, messageId: entry.messageId });
        this.#spans.get(entry.messageId)?.annotate('publish failed; retrying');
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => void this.#drain(), this.#retryDelayMs);
        return;
      }
      const span = this.#spans.get(entry.messageId);
      if (span) {
        this.#spans.delete(entry.messageId);
        span.finish();
      }
      await this.#entries.remove(next.key);
      if (this.#log.enabled('debug')) {
        // The entry's b3 header, `{traceId}-{spanId}-…`, names its PRODUCER span, also after a restart.
        const [traceId, spanId] = entry.headers['b3']?.split('-') ?? [];
        const { queue, messageId } = entry;
        this.#log.debug('outbox: message published', { traceId, spanId, queue, messageId, waitedMs: Date.now() - entry.enqueuedAt });
      }
    }
  }
}
