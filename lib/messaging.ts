/**
 * RabbitMQ messaging with trace context in the message headers.
 *
 * One connection per service, recovered by amqplib with backoff. On it:
 * - publishing goes through a channel in confirm mode (publisher confirms), persistent and
 *   with the mandatory flag: RabbitMQ answers every message with basic.ack, or basic.nack
 *   when it could not take it, and sends a basic.return (before the ack) when no queue
 *   took it. Only an ack without a return counts as sent.
 * - each consumer has a channel of its own. A consumer cancel notification (its queue was
 *   deleted) or a channel the broker closes is logged, shown in `/health`, and the
 *   consumer is set up again, declaring its queue, once that is possible.
 * - queues are durable, each with a dead-letter queue that takes what its consumer
 *   rejects, declared identically by producers and consumers: before first use, after
 *   every reconnect, and after a basic.return. A queue that exists with other arguments is
 *   refused (see `queueFailure`), which stops only that queue's messages.
 * Nothing the broker does throws out of here: every failure becomes a condition
 * (broker-conditions.ts), retried with backoff.
 */
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import pRetry from 'p-retry';
import { BrokerConditions, brokerReason, queueFailure, replyCode, type Condition } from './broker-conditions.ts';
import { ConfigError, type EnvReader } from './config.ts';
import type { Logger } from './log.ts';
import { extract, type Extracted } from './tracing/propagation.ts';
import type { Span } from './tracing/span.ts';
import type { Tracing } from './tracing/tracer.ts';

/** How RabbitMQ appears in spans. */
export const BROKER_SERVICE_NAME = 'rabbitmq';

export const deadLetterQueue = (queue: string) => `${queue}.dead-letter`;

/** The longest queue name RabbitMQ takes, in bytes of UTF-8 (an AMQP 0-9-1 short string). */
const MAX_QUEUE_NAME_BYTES = 255;

/**
 * The queue named by the setting `name` (`fallback` when unset), checked against RabbitMQ's rules
 * before anything is declared: its name and its dead-letter queue's at most 255 bytes of UTF-8, and
 * neither beginning with `amq.`, which the broker keeps for itself (declaring one is refused with 403
 * ACCESS_REFUSED). Throws a ConfigError naming the setting.
 */
export function queueFromEnv(env: EnvReader, name: string, fallback: string): string {
  const queue = env.string(name, fallback);
  const room = MAX_QUEUE_NAME_BYTES - Buffer.byteLength(deadLetterQueue(''));
  const bytes = Buffer.byteLength(queue);
  if (bytes > room) {
    throw new ConfigError(name, `a queue name of at most ${room} bytes (RabbitMQ's ${MAX_QUEUE_NAME_BYTES}, less its dead-letter queue's ".dead-letter"), got ${bytes}: ${JSON.stringify(queue)}`);
  }
  // The dead-letter queue's name too: `amq` would make `amq.dead-letter`.
  if (queue.startsWith('amq.') || deadLetterQueue(queue).startsWith('amq.')) {
    throw new ConfigError(name, `queue names beginning with "amq." are RabbitMQ's own (this queue's and its dead-letter queue's), got ${JSON.stringify(queue)}`);
  }
  return queue;
}

/** Declares a durable queue and its dead-letter queue, identically for producers and consumers. */
async function declareQueue(channel: Channel, queue: string, types: ReadonlyMap<string, string>): Promise<void> {
  await channel.assertQueue(deadLetterQueue(queue), { durable: true, arguments: typeArgument(deadLetterQueue(queue), types) });
  await channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(queue), ...typeArgument(queue, types) },
  });
}

/** `x-queue-type` for a queue whose type the operator chose (see `operatorQueueType`); none otherwise, a classic queue. */
function typeArgument(queue: string, types: ReadonlyMap<string, string>): Record<string, string> {
  const type = types.get(queue);
  return type ? { 'x-queue-type': type } : {};
}

/**
 * The queue and its type when a declare failed only because the operator made the queue a quorum
 * queue beforehand (406 PRECONDITION_FAILED, "inequivalent arg 'x-queue-type' for queue 'q' …
 * current is the value 'quorum'"): safer than the classic queue the services declare, and able to
 * do all they need (publisher confirms, prefetch, dead-lettering on reject), so it is used as it is.
 * A stream, which cannot (no reject, no dead-lettering), stays refused.
 */
function operatorQueueType(error: unknown): { queue: string; type: 'quorum' } | undefined {
  if (replyCode(error) !== 406) return undefined;
  const found = /inequivalent arg 'x-queue-type' for queue '([^']+)'.*current is the value 'quorum'/.exec(brokerReason(error));
  return found ? { queue: found[1]!, type: 'quorum' } : undefined;
}

/**
 * Messaging span tags by the OpenTelemetry semantic conventions for RabbitMQ (v1.45):
 * `messaging.destination.name` is `{exchange}:{routing key}` with empty parts left out, so
 * the queue's name for the default exchange; span names are `{messaging.operation.name}
 * {destination}`.
 */
function tagMessaging(span: Span, queue: string, operation: { name: 'publish' | 'consume'; type: 'send' | 'process' }, messageId?: string): void {
  span.tag('messaging.system', 'rabbitmq');
  span.tag('messaging.destination.name', queue);
  span.tag('messaging.operation.name', operation.name);
  span.tag('messaging.operation.type', operation.type);
  span.tag('rabbitmq.destination.routing_key', queue);
  if (messageId) span.tag('messaging.message.id', messageId);
}

export interface OutgoingMessage {
  messageId: string;
  /** AMQP headers, trace context among them. */
  headers: Record<string, string>;
}

/** The PRODUCER span for a message to `queue`, below `parent`, and the headers carrying its context. */
export function producerSpan(parent: Span, queue: string, messageId: string): { span: Span; headers: Record<string, string> } {
  const span = parent.child(`publish ${queue}`, { kind: 'PRODUCER', remoteService: BROKER_SERVICE_NAME });
  tagMessaging(span, queue, { name: 'publish', type: 'send' }, messageId);
  const headers: Record<string, string> = {};
  span.inject((name, value) => (headers[name] = value), { b3: 'single' });
  return { span, headers };
}

export interface DeliveredMessage {
  body: unknown;
  messageId: string | undefined;
  redelivered: boolean;
  /** The CONSUMER span, continuing the producer's trace. */
  span: Span;
  log: Logger;
}

export interface Consumer {
  queue: string;
  /** Resolving acknowledges the message; throwing sends it to the dead-letter queue. */
  handle(message: DeliveredMessage): Promise<void>;
  /** Unacknowledged messages held at once. */
  prefetch?: number;
}

export interface BrokerOptions {
  url: string;
  log: Logger;
  tracing: Tracing;
  /** Queues this service publishes to. */
  publishesTo?: string[];
  consumers?: Consumer[];
  /** The setting that names the queues (e.g. `VIP_QUEUE`), for the advice when a queue exists with other arguments. */
  queueSetting?: string;
  /** Backoff bounds, in ms, for reconnecting and for setting a queue up again. */
  backoff?: { initialDelayMs?: number; maxDelayMs?: number };
}

/** The connection's lifetime: its model, and a signal that ends every retry loop on it. */
interface Session {
  model: ChannelModel;
  ended: AbortController;
}

const CONNECTION = 'connection';
const PUBLISHING = 'publishing';
const BLOCKED = 'blocked';
/** Condition keys: publishing to and consuming from one queue fail and recover apart. */
const publishPart = (queue: string) => `publish ${queue}`;
const consumePart = (queue: string) => `consume ${queue}`;
/** A queue that refused a message (basic.nack), until one is confirmed. */
const refusedPart = (queue: string) => `refused ${queue}`;

/**
 * A basic.nack: RabbitMQ refused the message. It gives no reason; what makes a queue refuse
 * messages is almost always a length limit with `overflow: reject-publish`, which only the
 * operator lifts, so `/health` says so until a message to the queue is confirmed again.
 */
function refusal(queue: string): Condition {
  const fix = `make room in it or raise the limit (rabbitmqctl list_queues name messages policy arguments; rabbitmqctl list_policies)`;
  return {
    msg: 'queue refuses messages (basic.nack); publishing again with backoff',
    problem: `queue ${queue} refuses messages (basic.nack): it may be at its length limit with overflow reject-publish (a max-length policy or x-max-length); ${fix}`,
    operation: 'basic.publish',
    queue,
    reason: 'basic.nack',
    fix,
  };
}

/**
 * A service's link to RabbitMQ: publishing to `publishesTo`, consuming with `consumers`,
 * and `problem` for `/health`.
 *
 * @example
 * const broker = new Broker({ url, log, tracing, publishesTo: ['vip_queue'], queueSetting: 'VIP_QUEUE' });
 * if (broker.ready('vip_queue')) await broker.send('vip_queue', { accountId }, { messageId, headers });
 */
export class Broker {
  readonly #log: Logger;
  readonly #tracing: Tracing;
  readonly #conditions: BrokerConditions;
  readonly #queueSetting: string | undefined;
  readonly #backoff: { initialDelayMs: number; maxDelayMs: number };
  readonly #connection: Promise<amqp.RecoveringChannelModel>;
  /** Queues published to, and whether each is declared on the current connection. */
  readonly #declared = new Map<string, boolean>();
  readonly #consumers: Consumer[];
  /** Queues whose consumer is being set up (again). */
  readonly #notConsuming = new Set<string>();
  /** basic.return seen per message id, awaiting that message's confirm. */
  readonly #returned = new Map<string, string>();
  readonly #readyListeners: Array<(queue: string) => void> = [];
  /** Queues the operator declared with another type than classic (see `operatorQueueType`), and that type. */
  readonly #queueTypes = new Map<string, string>();
  /** Sends awaiting their confirm: rejected when the connection is closed, which then never brings it. */
  readonly #unconfirmed = new Set<(error: Error) => void>();
  /** Per channel part: when its channel was last opened, and the broker's closures of it in a row (see `#closedAgain`). */
  readonly #channelRuns = new Map<string, { openedAt: number; closures: number }>();
  #session: Session | undefined;
  /** When the current connection was made, and how many connections in a row ended within maxDelayMs of being made. */
  #connectedAt: number | undefined;
  #shortLived = 0;
  #publisher: ConfirmChannel | undefined;
  #closing = false;

  constructor({ url, log, tracing, publishesTo = [], consumers = [], queueSetting, backoff = {} }: BrokerOptions) {
    this.#log = log;
    this.#tracing = tracing;
    this.#queueSetting = queueSetting;
    this.#backoff = { initialDelayMs: backoff.initialDelayMs ?? 100, maxDelayMs: backoff.maxDelayMs ?? 5000 };
    // A problem back within the longest wait between tries is the same one, still going on.
    this.#conditions = new BrokerConditions(log, { holdMs: this.#backoff.maxDelayMs });
    for (const queue of publishesTo) this.#declared.set(queue, false);
    this.#consumers = consumers;
    this.#connection = amqp.connect(url, {
      recovery: {
        waitForConnect: false,
        initialDelay: this.#backoff.initialDelayMs,
        maxDelay: this.#backoff.maxDelayMs,
        calculateDelay: (attempt: number) => this.#reconnectDelay(attempt),
        setup: (model: ChannelModel) => this.#begin(model),
      },
    });
    void this.#connection.then((connection) => {
      connection.on('connect', () => {
        this.#connectedAt = Date.now();
        // The first connection has no problem to end; later ones end the loss, once it has held if it keeps coming back.
        if (this.#conditions.problemOf(CONNECTION) === undefined) log.info('connected to RabbitMQ');
        else this.#conditions.clear(CONNECTION, 'connected to RabbitMQ');
      });
      connection.on('disconnect', (error: Error) => this.#end('connection to RabbitMQ lost; reconnecting', 'connection lost', error));
      connection.on('connect-failed', (error: Error) => this.#end('cannot connect to RabbitMQ; retrying', 'not connected to RabbitMQ', error));
      // Connection errors also end in 'disconnect', which reports them.
      connection.on('error', () => {});
      connection.on('blocked', (reason: string) =>
        this.#conditions.set(BLOCKED, {
          msg: 'RabbitMQ blocks publishing on this connection',
          problem: `RabbitMQ blocks publishing: ${reason}`,
          operation: 'connection.blocked',
          reason,
        }),
      );
      connection.on('unblocked', () => this.#conditions.clear(BLOCKED, 'RabbitMQ no longer blocks publishing'));
    });
  }

  /** What is wrong now (for `/health`), or undefined when connected and every queue is in use. */
  get problem(): string | undefined {
    if (this.#conditions.summary) return this.#conditions.summary;
    if (!this.#session) return 'not connected to RabbitMQ yet';
    const settingUp = [...[...this.#declared].filter(([, declared]) => !declared).map(([queue]) => queue), ...this.#notConsuming];
    return settingUp.length > 0 ? `setting up queue ${settingUp.join(', ')}` : undefined;
  }

  /** Whether `send` to `queue` can go out now. */
  ready(queue: string): boolean {
    return this.#publisher !== undefined && this.#declared.get(queue) === true;
  }

  /** Calls `listener` whenever a queue this service publishes to becomes ready. */
  onReady(listener: (queue: string) => void): void {
    this.#readyListeners.push(listener);
  }

  /**
   * Publishes one persistent JSON message to `queue` (one of `publishesTo`); resolves when
   * RabbitMQ confirms that a queue took it. Rejects, saying why, when not connected, when
   * the queue is not declared, on basic.nack (`problem` then says the queue refuses messages,
   * until one is confirmed), on basic.return (the queue is then declared again) and when the
   * channel or the connection closes before the confirm.
   */
  async send(queue: string, body: unknown, { messageId, headers }: OutgoingMessage): Promise<void> {
    const channel = this.#publisher;
    if (!channel) throw new Error(this.#conditions.problemOf(CONNECTION) ?? this.#conditions.problemOf(PUBLISHING) ?? 'not connected to RabbitMQ');
    if (!this.#declared.get(queue)) throw new Error(this.#conditions.problemOf(publishPart(queue)) ?? `queue ${queue} not declared yet`);
    const content = Buffer.from(JSON.stringify(body));
    const properties = { mandatory: true, persistent: true, contentType: 'application/json', messageId, timestamp: Math.floor(Date.now() / 1000), headers };
    await new Promise<void>((resolve, reject) => {
      this.#unconfirmed.add(reject);
      channel.sendToQueue(queue, content, properties, (error: unknown) => {
        this.#unconfirmed.delete(reject);
        const returned = this.#returned.get(messageId);
        this.#returned.delete(messageId);
        if (error) {
          const nacked = error instanceof Error && error.message === 'message nacked';
          if (nacked) this.#conditions.set(refusedPart(queue), refusal(queue));
          reject(new Error(nacked ? 'basic.nack: RabbitMQ did not take the message' : `no confirm: ${brokerReason(error)}`));
        } else if (returned) {
          this.#redeclare(queue);
          reject(new Error(`basic.return ${returned}: no queue took the message`));
        } else {
          this.#conditions.clear(refusedPart(queue), 'queue takes messages again', { queue });
          this.#channelRuns.delete(PUBLISHING); // a confirm: the publishing channel works
          resolve();
        }
      });
    });
  }

  /**
   * Closes the connection. amqplib waits for the broker's Close-Ok without a bound, and a broker
   * stopping at the same moment (a cluster shutting down, both sides closing at once) may never
   * send it: after `timeoutMs` the stop goes on without it. Sends still awaiting their confirm are
   * rejected then: a closed connection never brings it.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closing = true;
    this.#session?.ended.abort();
    const connection = await this.#connection;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const confirmed = await Promise.race([
      connection.close().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false))),
    ]);
    clearTimeout(timer);
    if (!confirmed) this.#log.warn('RabbitMQ did not confirm closing the connection; stopping without it', { timeoutMs });
    this.#session = undefined;
    this.#publisher = undefined;
    this.#conditions.close();
    // A confirm the closed connection never brought (RabbitMQ blocking publishers, a broker gone silent) never will.
    for (const reject of this.#unconfirmed) reject(new Error('no confirm: the connection was closed before RabbitMQ confirmed'));
    this.#unconfirmed.clear();
  }

  /** A new connection: opens the publishing channel (failing here means reconnecting), then sets every queue up. */
  async #begin(model: ChannelModel): Promise<void> {
    // amqplib listens for the connection's errors only once this setup is done: one closed meanwhile
    // (a channel limit of the operator's refusing the first channel, a forced close) would otherwise
    // be an uncaught 'error'. The failed setup reports it.
    let closedBy: unknown;
    model.on('error', (error: unknown) => (closedBy ??= error));
    this.#session?.ended.abort();
    const session: Session = { model, ended: new AbortController() };
    if (this.#declared.size > 0) {
      this.#publisher = await this.#openPublisher(session).catch((error: unknown) => {
        // The channel's error says only that it ended; the connection's says why (`NOT_ALLOWED - number of channels...`).
        throw closedBy ?? error;
      });
    }
    this.#session = session;
    this.#conditions.clear(PUBLISHING);
    for (const queue of this.#declared.keys()) this.#declare(session, queue);
    for (const consumer of this.#consumers) this.#consume(session, consumer);
  }

  /**
   * The wait before reconnection attempt `attempt` (1 after each loss): initialDelayMs doubling up
   * to maxDelayMs, in [half, all] of it. amqplib starts over at every connection made; a connection
   * the broker closes as soon as it is used (a channel limit refusing the consumer's channel) would
   * then be made again every initialDelayMs, so each such short-lived connection doubles it too.
   */
  #reconnectDelay(attempt: number): number {
    const base = Math.min(this.#backoff.maxDelayMs, this.#backoff.initialDelayMs * 2 ** (attempt - 1 + this.#shortLived));
    return Math.round(base * (0.5 + Math.random() / 2));
  }

  #end(msg: string, problem: string, error: Error): void {
    if (this.#connectedAt !== undefined) {
      this.#shortLived = Date.now() - this.#connectedAt < this.#backoff.maxDelayMs ? this.#shortLived + 1 : 0;
      this.#connectedAt = undefined;
    }
    this.#session?.ended.abort();
    this.#session = undefined;
    this.#publisher = undefined;
    this.#returned.clear();
    for (const queue of this.#declared.keys()) this.#declared.set(queue, false);
    this.#conditions.clear(BLOCKED);
    if (this.#closing) return;
    const reason = brokerReason(error);
    this.#conditions.set(CONNECTION, { msg, problem: `${problem}: ${reason}`, operation: 'connection.open', reason });
  }

  async #openPublisher(session: Session): Promise<ConfirmChannel> {
    const channel = await session.model.createConfirmChannel();
    channel.on('return', ({ fields, properties }) => {
      // basic.return's fields (amqplib's Message type names only those of a delivery).
      const { replyCode, replyText } = fields as unknown as { replyCode: number; replyText: string };
      if (typeof properties.messageId === 'string') this.#returned.set(properties.messageId, `${replyCode} ${replyText}`);
    });
    this.#opened(PUBLISHING);
    this.#onClosedByBroker(channel, session, 'publishing channel', 'basic.publish', undefined, (condition) => {
      this.#publisher = undefined;
      this.#conditions.set(PUBLISHING, condition);
      this.#retry(session, PUBLISHING, { msg: 'publishing channel open again' }, async () => {
        this.#publisher = await this.#openPublisher(session);
        for (const [queue, declared] of this.#declared) if (declared) this.#announce(queue);
      }, (error) => {
        const reason = brokerReason(error);
        return { msg: 'cannot open a publishing channel; retrying', problem: `publishing channel: ${reason}`, operation: 'channel.open', reason };
      }, this.#closedAgain(PUBLISHING));
    });
    return channel;
  }

  /** Declares a queue published to (on a channel of its own: a failed declare closes its channel). */
  #declare(session: Session, queue: string): void {
    this.#retry(session, publishPart(queue), { msg: 'queue declared; publishing to it', queue }, async () => {
      const channel = await this.#declaredOn(session, queue);
      await channel.close().catch(() => {});
      this.#declared.set(queue, true);
      this.#announce(queue);
    }, (error) => queueFailure(queue, error, this.#queueSetting));
  }

  /**
   * Declares `queue` and its dead-letter queue on a new channel, and returns that channel. A queue
   * the operator made a quorum queue is declared as one from then on, on a channel of its own (the
   * refused declare closed the first), with one line saying so.
   */
  async #declaredOn(session: Session, queue: string): Promise<Channel> {
    for (;;) {
      const channel = await session.model.createChannel();
      channel.on('error', () => {}); // a failed declare closes the channel; the rejected call reports it
      // What this attempt declares: publishing and consuming may learn a type at the same time.
      const types = new Map(this.#queueTypes);
      try {
        await declareQueue(channel, queue, types);
        return channel;
      } catch (error) {
        await channel.close().catch(() => {});
        const chosen = operatorQueueType(error);
        if (!chosen || types.get(chosen.queue) === chosen.type) throw error;
        if (this.#queueTypes.get(chosen.queue) !== chosen.type) {
          this.#queueTypes.set(chosen.queue, chosen.type);
          this.#log.info('queue is a quorum queue the operator declared; using it as one', { queue: chosen.queue, type: chosen.type, operation: 'queue.declare' });
        }
      }
    }
  }

  /** After a basic.return: the queue is gone (deleted, expired), so declare it again. */
  #redeclare(queue: string): void {
    const session = this.#session;
    if (!this.#declared.get(queue) || !session) return;
    this.#declared.set(queue, false);
    this.#conditions.set(publishPart(queue), {
      msg: 'queue missing: a message came back with basic.return; declaring the queue again',
      problem: `queue ${queue} missing (basic.return); declaring it again`,
      operation: 'basic.publish',
      queue,
      reason: 'basic.return',
    });
    this.#declare(session, queue);
  }

  #announce(queue: string): void {
    for (const listener of this.#readyListeners) listener(queue);
  }

  /** Declares the consumer's queue and consumes from it, again after a cancel or a channel the broker closed. */
  #consume(session: Session, consumer: Consumer): void {
    // A wait for another try may end after its connection did: the next connection's session sets the consumer up.
    if (session.ended.signal.aborted) return;
    const { queue } = consumer;
    const again = (condition: Condition) => {
      this.#conditions.set(consumePart(queue), condition);
      void sleep(this.#closedAgain(consumePart(queue)) || this.#backoff.initialDelayMs, undefined, { signal: session.ended.signal }).then(
        () => this.#consume(session, consumer),
        () => {}, // the connection ended: the next one sets the consumer up
      );
    };
    this.#notConsuming.add(queue);
    this.#retry(session, consumePart(queue), { msg: 'consuming again', queue }, async () => {
      const channel = await this.#declaredOn(session, queue);
      try {
        await channel.prefetch(consumer.prefetch ?? 10);
        await channel.consume(queue, (message) => {
          if (message) return void this.#deliver(session, channel, consumer, message);
          void channel.close().catch(() => {});
          again({
            msg: 'consumer cancelled by RabbitMQ (consumer cancel notification); declaring the queue again',
            problem: `queue ${queue}: consumer cancelled by RabbitMQ (queue deleted?); declaring it again`,
            operation: 'basic.cancel',
            queue,
            reason: 'consumer cancel notification',
          });
        });
      } catch (error) {
        await channel.close().catch(() => {});
        throw error;
      }
      this.#notConsuming.delete(queue);
      this.#opened(consumePart(queue));
      this.#onClosedByBroker(channel, session, `consuming from ${queue}`, 'basic.consume', queue, (condition) => again(condition));
    }, (error) => queueFailure(queue, error, this.#queueSetting));
  }

  /** Notes that `part`'s channel is open (again) now. */
  #opened(part: string): void {
    const run = this.#channelRuns.get(part);
    this.#channelRuns.set(part, { openedAt: Date.now(), closures: run?.closures ?? 0 });
  }

  /**
   * The broker closed `part`'s channel: how long to wait before opening it again. A channel the
   * broker closes as soon as it is used (publishing without write permission) would otherwise be
   * opened and closed in a tight loop; each closure within maxDelayMs of the opening doubles the
   * wait, from initialDelayMs up to maxDelayMs. A channel that lasted longer starts over.
   */
  #closedAgain(part: string): number {
    const run = this.#channelRuns.get(part);
    const inARow = run && Date.now() - run.openedAt < this.#backoff.maxDelayMs ? run.closures + 1 : 1;
    this.#channelRuns.set(part, { openedAt: run?.openedAt ?? 0, closures: inARow });
    return inARow === 1 ? 0 : Math.min(this.#backoff.maxDelayMs, this.#backoff.initialDelayMs * 2 ** (inARow - 2));
  }

  /**
   * Calls `then` when the broker closes `channel` (a channel error: an ack with an unknown
   * delivery tag, a timed-out delivery...) while the connection lives on; a channel
   * closed with its connection is set up again with the connection.
   */
  #onClosedByBroker(
    channel: Channel,
    session: Session,
    what: string,
    operation: string,
    queue: string | undefined,
    then: (condition: Condition) => void,
  ): void {
    channel.on('error', (error: Error) => {
      if (session.ended.signal.aborted || this.#closing) return;
      const reason = brokerReason(error);
      then({ msg: 'channel closed by RabbitMQ; opening it again', problem: `${what}: channel closed by RabbitMQ: ${reason}`, operation, queue, reason });
    });
  }

  /**
   * Runs `attempt` until it succeeds, with backoff, for as long as the connection lives;
   * a failure becomes the part's condition (logged once), success clears it.
   */
  #retry(
    session: Session,
    part: string,
    recovered: { msg: string; queue?: string },
    attempt: () => Promise<void>,
    failure: (error: unknown) => Condition,
    delayMs = 0,
  ): void {
    const { signal } = session.ended;
    // p-retry gives up on a TypeError; from amqplib on a dying connection that is no bug of ours, so it is retried too.
    const retried = () => attempt().catch((error: unknown) => {
      throw error instanceof TypeError ? new Error(error.message, { cause: error }) : error;
    });
    const retrying = () => pRetry(retried, {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: this.#backoff.initialDelayMs,
      maxTimeout: this.#backoff.maxDelayMs,
      randomize: true,
      signal,
      unref: true,
      onFailedAttempt: ({ error }) => {
        if (!signal.aborted && !this.#closing) this.#conditions.set(part, failure(error));
      },
    });
    void (delayMs > 0 ? sleep(delayMs, undefined, { signal, ref: false }).then(retrying) : retrying()).then(
      () => this.#conditions.clear(part, recovered.msg, { queue: recovered.queue }),
      () => {}, // the connection ended: the next one starts over
    );
  }

  /**
   * Makes sure `queue`'s dead-letter queue exists before a message is rejected to it: RabbitMQ
   * drops a dead-lettered message no queue takes, without a word, and the dead-letter queue,
   * which nothing consumes, is what an operator deletes or an `expires` policy removes while the
   * services run. Declared again (on a channel of its own: a failed check closes its channel)
   * with one line saying so. Only on the way to the dead-letter queue, which is rare.
   */
  async #deadLetterQueueThere(session: Session, queue: string, log: Logger): Promise<void> {
    const name = deadLetterQueue(queue);
    const onChannel = async (work: (channel: Channel) => Promise<unknown>) => {
      const channel = await session.model.createChannel();
      channel.on('error', () => {}); // the rejected call reports it
      try {
        await work(channel);
      } finally {
        await channel.close().catch(() => {});
      }
    };
    try {
      await onChannel((channel) => channel.checkQueue(name));
      return;
    } catch (error) {
      // 404 NOT_FOUND: missing. Anything else (the connection going) is for the rejection to meet.
      if (replyCode(error) !== 404) return;
    }
    try {
      await onChannel((channel) => channel.assertQueue(name, { durable: true, arguments: typeArgument(name, this.#queueTypes) }));
      log.warn('dead-letter queue missing (deleted, or removed by an expires policy); declared it again', { queue, deadLetterQueue: name, operation: 'queue.declare' });
    } catch (error) {
      log.error('dead-letter queue missing and cannot be declared; the rejected message is dropped', { queue, deadLetterQueue: name, operation: 'queue.declare', reason: brokerReason(error) });
    }
  }

  async #deliver(session: Session, channel: Channel, consumer: Consumer, message: ConsumeMessage): Promise<void> {
    const span = this.#tracing.continueSpan(`consume ${consumer.queue}`, extractFromAmqp(message.properties.headers), {
      kind: 'CONSUMER',
      remoteService: BROKER_SERVICE_NAME,
      continuation: 'child',
    });
    const messageId = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
    tagMessaging(span, consumer.queue, { name: 'consume', type: 'process' }, messageId);
    const log = this.#log.child({ traceId: span.traceId, spanId: span.spanId });
    try {
      const body: unknown = JSON.parse(message.content.toString('utf8'));
      await consumer.handle({ body, messageId, redelivered: message.fields.redelivered, span, log });
      settle(() => channel.ack(message), log, consumer.queue, messageId);
    } catch (error) {
      span.fail(error);
      await this.#deadLetterQueueThere(session, consumer.queue, log);
      span.annotate('sent to dead-letter queue');
      log.error('message rejected to the dead-letter queue', { error, queue: consumer.queue, messageId });
      settle(() => channel.nack(message, false, false), log, consumer.queue, messageId);
    } finally {
      span.finish();
    }
  }
}

/**
 * Acknowledging on a channel that closed meanwhile throws; RabbitMQ then delivers the
 * message again (to this consumer once it is back, or another), which is what should
 * happen: the consumer's inbox recognises it.
 */
function settle(acknowledge: () => void, log: Logger, queue: string, messageId: string | undefined): void {
  try {
    acknowledge();
  } catch (error) {
    log.info('acknowledgement not sent: the channel is closed; RabbitMQ delivers the message again', { queue, messageId, reason: brokerReason(error) });
  }
}

const utf8 = new TextDecoder();

/**
 * The text of an AMQP header value in each form RabbitMQ clients write trace headers:
 * a long string (field type `S`: what Java's, Go's, .NET's and Python's clients write
 * for a string, and what amqplib decodes to one), a byte array (`x`: a Buffer in amqplib,
 * written for Go's []byte, Python's bytes, Java's byte[]), and, for the sampling flag and
 * B3 flags (`name`, lower case), an integer (`b`, `s`, `I`, `l`...) or a boolean (`t`: true is
 * "1"). Anything else (an integer for an id, tables, arrays, decimals, timestamps) is not trace context.
 */
function headerText(name: string, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  if (!FLAG_HEADERS.has(name)) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return undefined;
}

/** The trace headers whose value may come as an integer or a boolean: ids never do (a number is no hex id). */
const FLAG_HEADERS = new Set(['x-b3-sampled', 'x-b3-flags']);

/** Trace context from AMQP headers. AMQP header names are case-sensitive; trace headers are matched without regard to case. */
export function extractFromAmqp(headers: Record<string, unknown> | undefined): Extracted {
  const lower = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    const key = name.toLowerCase();
    const text = headerText(key, value);
    if (text !== undefined) lower.set(key, text);
  }
  return extract((name) => lower.get(name));
}
