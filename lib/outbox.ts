/**
 * A durable outbox in front of the broker: a message is committed to LMDB first and
 * published from there to the outbox's queue, in order, until the queue has taken it
 * (the broker's confirm, with no basic.return), so a notification survives a broker
 * outage, a deleted queue or a restart of this service. Each entry keeps its trace
 * headers, so the consumer continues the original request's trace however late.
 *
 * The PRODUCER span never outlives the request that opened it: it ends at the broker's
 * confirm when that comes while the request is still being answered, and otherwise when
 * the request stops waiting (annotated that the message waits in the outbox). What
 * happens to the message later is logged with its trace id and message id.
 *
 * Delivery is at least once (a crash between the broker's confirm and the removal
 * publishes the entry again): consumers deduplicate by message id (see inbox.ts). A message the
 * store will not take (a full volume) goes straight to the queue while the broker takes messages,
 * out of order with what waits in the outbox; it is lost only when neither takes it.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from './log.ts';
import { producerSpan, type Broker } from './messaging.ts';
import { CommitError, committed, openTable, sequenceKeys, type Store, type Table } from './storage.ts';
import type { Span } from './tracing/span.ts';

/** An entry goes to the queue configured now: renaming the queue (e.g. away from one refused) takes what is pending along. */
interface Entry {
  body: unknown;
  messageId: string;
  headers: Record<string, string>;
  /** The PRODUCER span's trace and span ids, for log lines about the message. */
  traceId?: string;
  spanId?: string;
  enqueuedAt: number;
}

export interface OutboxOptions {
  store: Store;
  broker: Broker;
  /** Where its messages go: one of the broker's `publishesTo`. */
  queue: string;
  log: Logger;
  /** Backoff bounds, in ms, for publishing again after a failed attempt. */
  backoff?: { initialDelayMs?: number; maxDelayMs?: number };
}

export interface EnqueueOptions {
  /**
   * What the request waits for besides the commit (its downstream calls): the PRODUCER
   * span waits for the broker's confirm at most until this settles. Default: nothing,
   * so the span ends at the commit unless the confirm is already there.
   */
  window?: PromiseLike<unknown>;
}

/** A message whose request is still waiting: its open PRODUCER span, and how to tell the request it is confirmed. */
interface Waiting {
  span: Span;
  confirmed(): void;
}

/**
 * @example
 * const outbox = new Outbox({ store, broker, queue: 'vip_queue', log });
 * await outbox.enqueue({ accountId }, serverSpan, { window: Promise.allSettled(downstreamCalls) });
 */
export class Outbox {
  readonly #store: Store;
  readonly #entries: Table<Entry, number>;
  readonly #nextKey: () => number;
  readonly #broker: Broker;
  readonly #queue: string;
  readonly #log: Logger;
  readonly #backoff: { initialDelayMs: number; maxDelayMs: number };
  readonly #waiting = new Map<string, Waiting>();
  #draining: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  /** Why the last publish failed, while it keeps failing: logged once, not per attempt. */
  #failure: string | undefined;
  /**
   * Set while messages wait for more than the broker's confirm (the broker not ready, a
   * failed publish, messages from before a restart) until the outbox is empty: then each
   * message's publishing is worth a line. Otherwise a confirm that merely comes after the
   * answer (RabbitMQ confirms a persistent message once it is on disk) is routine.
   */
  #disrupted = false;
  #closed = false;

  constructor({ store, broker, queue, log, backoff = {} }: OutboxOptions) {
    this.#store = store;
    this.#entries = openTable<Entry, number>(store, 'outbox');
    this.#nextKey = sequenceKeys(this.#entries);
    this.#broker = broker;
    this.#queue = queue;
    this.#log = log;
    this.#backoff = { initialDelayMs: backoff.initialDelayMs ?? 100, maxDelayMs: backoff.maxDelayMs ?? 5000 };
    broker.onReady((ready) => {
      if (ready !== queue) return;
      clearTimeout(this.#retryTimer);
      void this.#drain();
    });
    const pending = this.size;
    if (pending > 0) log.info('outbox has messages from before; publishing when the broker is ready', { pending });
    this.#disrupted = pending > 0;
  }

  /** Messages not yet taken by a queue. */
  get size(): number {
    return this.#entries.getCount();
  }

  /**
   * Records `body` under a PRODUCER span below `parent`. Resolves once the
   * message is committed to disk and its span has ended (see `window`); publishing
   * follows in the background. When the commit fails and the broker takes messages, the
   * message is sent without the outbox instead (see `#sendUnstored`). Rejects when neither
   * takes it (LMDB's reason, and the broker's), with the span ended and marked failed.
   */
  async enqueue(body: unknown, parent: Span, { window }: EnqueueOptions = {}): Promise<void> {
    const messageId = randomUUID();
    const { span, headers } = producerSpan(parent, this.#queue, messageId);
    let confirmed!: () => void;
    const confirm = new Promise<void>((resolve) => (confirmed = resolve));
    this.#waiting.set(messageId, { span, confirmed });
    const entry: Entry = { body, messageId, headers, traceId: span.traceId, spanId: span.spanId, enqueuedAt: Date.now() };
    try {
      await committed(this.#entries.put(this.#nextKey(), entry), this.#store);
    } catch (error) {
      this.#waiting.delete(messageId);
      // The store refusing the write, not the message (one it cannot encode is refused by both).
      if (error instanceof CommitError && this.#broker.ready(this.#queue)) return this.#sendUnstored(entry, span, error, window);
      span.fail(error);
      span.finish();
      throw error;
    }
    if (this.#log.enabled('debug')) this.#messageLog(entry).debug('outbox message committed', { pending: this.size });
    void this.#drain();
    await Promise.race([confirm, Promise.resolve(window).then(noop, noop)]);
    if (this.#waiting.delete(messageId)) {
      span.annotate('waits in the outbox');
      span.finish();
    }
  }

  /**
   * A message the store would not take (a full volume), sent straight to the queue while the broker
   * takes messages, rather than lost: without the outbox's keeping, its order or its retries. Resolves
   * at the broker's confirm, or when the request stops waiting (`window`), the message then still
   * unconfirmed; a failure after that is logged, one before it rejects with the store's reason and
   * the broker's.
   */
  async #sendUnstored(entry: Entry, span: Span, stored: Error, window: PromiseLike<unknown> | undefined): Promise<void> {
    span.annotate(`not stored (${stored.message}): sent without the outbox`);
    const sent = this.#broker.send(this.#queue, entry.body, entry).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    const waited = Promise.resolve(window).then(() => 'waited' as const, () => 'waited' as const);
    const outcome = await Promise.race([sent, waited]);
    if (outcome === 'waited') {
      span.annotate('awaits the broker\'s confirm');
      span.finish();
      void sent.then((error) => error && this.#messageLog(entry).error('message lost: neither stored nor confirmed', { stored: stored.message, reason: error.message }));
      return;
    }
    if (outcome) {
      const lost = new Error(`${stored.message}; and not sent without the outbox: ${outcome.message}`, { cause: stored });
      span.fail(lost);
      span.finish();
      throw lost;
    }
    span.finish();
    // The store's failing is said once (storage.ts's `LMDB writes fail`, and /health), not per message.
    if (this.#log.enabled('debug')) this.#messageLog(entry).debug('outbox message not stored; published without the outbox', { reason: stored.message });
  }

  /**
   * Publishes what is pending now, if the broker is ready; resolves when done trying, or after
   * `timeoutMs`: a confirm may never come (RabbitMQ blocking publishers during a resource alarm, a
   * broker gone silent), and a stopping service cannot wait for it. What is left stays in the
   * outbox for the next start, and a line says how much and what the broker's problem is.
   */
  async flush({ timeoutMs }: { timeoutMs?: number } = {}): Promise<void> {
    if (timeoutMs === undefined) return this.#drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.#drain().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false))),
    ]);
    clearTimeout(timer);
    if (done) return;
    this.#log.warn('outbox not flushed in time; its messages are kept for the next start', {
      queue: this.#queue,
      pending: this.size,
      timeoutMs,
      ...(this.#broker.problem && { broker: this.#broker.problem }),
    });
  }

  /** Stops publishing; resolves once a publish under way has finished, so the store can close. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#draining;
    for (const { span, confirmed } of this.#waiting.values()) {
      span.annotate('waits in the outbox');
      span.finish();
      confirmed();
    }
    this.#waiting.clear();
  }

  #drain(): Promise<void> {
    this.#draining ??= this.#publishPending().finally(() => (this.#draining = undefined));
    return this.#draining;
  }

  async #publishPending(): Promise<void> {
    while (!this.#closed) {
      const [next] = this.#entries.getRange({ limit: 1 });
      if (!next) return void (this.#disrupted = false);
      const entry = next.value;
      // Not ready: the broker calls back once it is.
      if (!this.#broker.ready(this.#queue)) return void (this.#disrupted = true);
      try {
        await this.#broker.send(this.#queue, entry.body, entry);
      } catch (error) {
        return this.#failed(entry, error);
      }
      this.#published(entry);
      try {
        await committed(this.#entries.remove(next.key), this.#store);
      } catch (error) {
        // Still on disk: it goes out again, and the consumer's inbox drops the duplicate.
        return this.#failed(entry, error);
      }
      this.#failures = 0;
      if (this.#failure !== undefined) {
        this.#failure = undefined;
        this.#log.info('outbox publishing again', { pending: this.size });
      }
    }
  }

  /**
   * Confirmed: the span ends now if its request still waits. The line says when it went out; at
   * info when it left after its request during a disruption (an outage, a restart), the moment
   * its trace can no longer show.
   */
  #published(entry: Entry): void {
    const waiting = this.#waiting.get(entry.messageId);
    if (waiting) {
      this.#waiting.delete(entry.messageId);
      waiting.span.finish();
      waiting.confirmed();
    }
    const level = !waiting && this.#disrupted ? 'info' : 'debug';
    if (this.#log.enabled(level)) {
      this.#messageLog(entry)[level]('outbox message published', { waitedMs: Date.now() - entry.enqueuedAt, afterRequest: !waiting });
    }
  }

  #failed(entry: Entry, error: unknown): void {
    // Stopping: the send under way was cut off with the connection; flush said what is kept.
    if (this.#closed) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.#disrupted = true;
    this.#waiting.get(entry.messageId)?.span.annotate(`not published: ${reason}; kept in the outbox`);
    if (reason !== this.#failure) {
      this.#failure = reason;
      this.#messageLog(entry).warn('outbox message not published; kept, publishing again with backoff', { reason, pending: this.size });
    }
    const delay = Math.min(this.#backoff.maxDelayMs, this.#backoff.initialDelayMs * 2 ** this.#failures++);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#drain(), delay);
  }

  /** A logger for lines about one message: its trace, its PRODUCER span, its id. */
  #messageLog({ traceId, spanId, messageId }: Entry): Logger {
    return this.#log.child({ ...(traceId && { traceId, spanId }), messageId, queue: this.#queue });
  }
}

const noop = () => {};
