/**
 * RabbitMQ messaging with trace context in the message headers.
 *
 * One recovering connection per service (amqplib's recovery: reconnect with backoff,
 * channels and consumers re-created after each reconnect). Publishing waits for the
 * broker's confirm; messages are persistent, queues durable, and every queue has a
 * dead-letter queue that takes the messages its consumer rejects.
 */
import { Buffer } from 'node:buffer';
import amqp from 'amqplib';
import type { Logger } from './log.ts';
import { extract, type Extracted } from './tracing/propagation.ts';
import type { Span } from './tracing/span.ts';
import type { Tracing } from './tracing/tracer.ts';

type Model = Awaited<ReturnType<typeof amqp.connect>>;
type ConfirmChannel = Awaited<ReturnType<Model['createConfirmChannel']>>;
type Channel = Awaited<ReturnType<Model['createChannel']>>;
type Message = NonNullable<Parameters<Parameters<Channel['consume']>[1]>[0]>;

/** How RabbitMQ appears in spans. */
export const BROKER_SERVICE_NAME = 'rabbitmq';

export const deadLetterQueue = (queue: string) => `${queue}.dead-letter`;

/** Declares a durable queue and its dead-letter queue, identically for producers and consumers. */
async function declareQueue(channel: Channel, queue: string): Promise<void> {
  await channel.assertQueue(deadLetterQueue(queue), { durable: true });
  await channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(queue) },
  });
}

export interface OutgoingMessage {
  messageId: string;
  /** AMQP headers, trace context among them. */
  headers: Record<string, string>;
}

/** The PRODUCER span for a message to `queue`, below `parent`, and the headers carrying its context. */
export function producerSpan(parent: Span, queue: string, messageId: string): { span: Span; headers: Record<string, string> } {
  const span = parent.child(`publish ${queue}`, { kind: 'PRODUCER', remoteService: BROKER_SERVICE_NAME });
  span.tag('messaging.system', 'rabbitmq');
  span.tag('messaging.destination', queue);
  span.tag('messaging.message_id', messageId);
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
  /** Queues this service publishes to (declared on every connect). */
  publishesTo?: string[];
  consumers?: Consumer[];
  /** Reconnect backoff bounds. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
}

export class Broker {
  readonly #log: Logger;
  readonly #tracing: Tracing;
  readonly #connection: Promise<amqp.RecoveringChannelModel>;
  #publisher: ConfirmChannel | undefined;
  #connected = false;
  #closing = false;
  readonly #connectListeners: Array<() => void> = [];

  constructor({ url, log, tracing, publishesTo = [], consumers = [], reconnect = {} }: BrokerOptions) {
    this.#log = log;
    this.#tracing = tracing;
    this.#connection = amqp.connect(url, {
      recovery: {
        waitForConnect: false,
        initialDelay: reconnect.initialDelayMs ?? 100,
        maxDelay: reconnect.maxDelayMs ?? 5000,
        setup: async (model: Model) => {
          const publisher = await model.createConfirmChannel();
          for (const queue of publishesTo) await declareQueue(publisher, queue);
          for (const consumer of consumers) await this.#startConsumer(model, consumer);
          this.#publisher = publisher;
          this.#connected = true;
          for (const listener of this.#connectListeners) listener();
        },
      },
    });
    void this.#connection.then((connection) => {
      connection.on('connect', () => log.info('connected to RabbitMQ'));
      connection.on('disconnect', (error: Error) => {
        this.#connected = false;
        this.#publisher = undefined;
        if (!this.#closing) log.warn('disconnected from RabbitMQ', { error });
      });
      connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) => {
        if (attempt === 1 || attempt % 10 === 0) log.warn('RabbitMQ unreachable; retrying', { attempt, delayMs: delay });
      });
      connection.on('error', (error: Error) => log.warn('RabbitMQ connection error', { error }));
    });
  }

  get connected(): boolean {
    return this.#connected && this.#publisher !== undefined;
  }

  /** Publishes one persistent JSON message; resolves when the broker confirms it. */
  async send(queue: string, body: unknown, { messageId, headers }: OutgoingMessage): Promise<void> {
    const channel = this.#publisher;
    if (!channel) throw new Error('not connected to RabbitMQ');
    await new Promise<void>((resolve, reject) => {
      channel.sendToQueue(
        queue,
        Buffer.from(JSON.stringify(body)),
        { persistent: true, contentType: 'application/json', messageId, timestamp: Math.floor(Date.now() / 1000), headers },
        (error: unknown) => (error ? reject(error instanceof Error ? error : new Error('message nacked by broker')) : resolve()),
      );
    });
  }

  /** Calls `listener` after every (re)connect, once the channels are ready. */
  onConnect(listener: () => void): void {
    this.#connectListeners.push(listener);
  }

  /**
   * Closes the connection. amqplib waits for the broker's Close-Ok without a bound, and a broker
   * stopping at the same moment (a cluster shutting down, both sides closing at once) may never
   * send it: after `timeoutMs` the stop goes on without it.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closing = true;
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
    this.#connected = false;
  }

  async #startConsumer(model: Model, consumer: Consumer): Promise<void> {
    const channel = await model.createChannel();
    await declareQueue(channel, consumer.queue);
    await channel.prefetch(consumer.prefetch ?? 10);
    await channel.consume(consumer.queue, (message) => {
      if (message) void this.#deliver(channel, consumer, message);
    });
  }

  async #deliver(channel: Channel, consumer: Consumer, message: Message): Promise<void> {
    const span = this.#tracing.continueSpan(`consume ${consumer.queue}`, extractFromAmqp(message.properties.headers), {
      kind: 'CONSUMER',
      remoteService: BROKER_SERVICE_NAME,
      continuation: 'child',
    });
    span.tag('messaging.system', 'rabbitmq');
    span.tag('messaging.destination', consumer.queue);
    const messageId = message.properties.messageId as string | undefined;
    if (messageId) span.tag('messaging.message_id', messageId);
    const log = this.#log.child({ traceId: span.traceId, spanId: span.spanId });
    try {
      const body: unknown = JSON.parse(message.content.toString('utf8'));
      await consumer.handle({ body, messageId, redelivered: message.fields.redelivered, span, log });
      settle(() => channel.ack(message));
    } catch (error) {
      span.fail(error);
      span.annotate('sent to dead-letter queue');
      log.error('message rejected to the dead-letter queue', { error, queue: consumer.queue, messageId });
      settle(() => channel.nack(message, false, false));
    } finally {
      span.finish();
    }
  }
}

/**
 * Acknowledging on a channel that closed meanwhile throws; the broker then redelivers
 * the message to the next consumer, which is what should happen.
 */
function settle(acknowledge: () => void): void {
  try {
    acknowledge();
  } catch {
    // The channel is gone; redelivery follows.
  }
}

/** AMQP header names are case-sensitive; trace headers are matched without regard to case. */
export function extractFromAmqp(headers: Record<string, unknown> | undefined): Extracted {
  const lower = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === 'string') lower.set(name.toLowerCase(), value);
    else if (value instanceof Uint8Array) lower.set(name.toLowerCase(), Buffer.from(value).toString('utf8'));
  }
  return extract((name) => lower.get(name));
}
