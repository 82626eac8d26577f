/**
 * What the messaging and outbox tests share: a tracer and a logger whose output they
 * read, test queue names, and an operator's connection to the broker, doing to a test's
 * own queues what operators and other clients do.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { testAmqpUrl } from '../tools/rabbitmq-node.ts';
import { createLogger, type Logger } from './log.ts';
import { Broker, deadLetterQueue, type BrokerOptions, type Consumer, type DeliveredMessage } from './messaging.ts';
import { createMemoryExporter } from './tracing/exporter.ts';
import { Tracing } from './tracing/tracer.ts';

/** The test run's broker (`testAmqpUrl`): tests use queues of their own on it, and never stop or reconfigure it. */
export const AMQP_URL = testAmqpUrl();

/** Backoff short enough for tests to see several retries quickly. */
export const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 200 };

export const testQueue = (what: string) => `test.${what}.${randomUUID().slice(0, 8)}`;

/** Queues of a test's own: `queue(what)` names one with testQueue and keeps it in `names`, for the test's cleanup. */
export function ownQueues(): { names: string[]; queue: (what: string) => string } {
  const names: string[] = [];
  return {
    names,
    queue: (what) => {
      const name = testQueue(what);
      names.push(name);
      return name;
    },
  };
}

/** A VIP notification's body, as accountservice sends it. */
export const NOTIFICATION = { accountId: '10000', readAt: '2026-01-01T00:00:00Z' };

/** What `Broker.send` takes beside the body: a new message id, no headers. */
export const newMessage = () => ({ messageId: randomBytes(8).toString('hex'), headers: {} });

/** A consumer recording what it was handed. */
export function recording(queue: string): Consumer & { delivered: DeliveredMessage[] } {
  const delivered: DeliveredMessage[] = [];
  return { queue, delivered, handle: async (m) => void delivered.push(m) };
}

/** A Broker logging and tracing into `seen`, retrying fast, on the test run's broker unless `options.url` names another. */
export function startBroker(seen: Observed, options: Partial<BrokerOptions>): Broker {
  return new Broker({ url: AMQP_URL, log: seen.log, tracing: seen.tracing, backoff: FAST_BACKOFF, queueSetting: 'VIP_QUEUE', ...options });
}

export interface Observed {
  log: Logger;
  /** Every log line, parsed. */
  lines: Array<Record<string, any>>;
  tracing: Tracing;
  /** Every finished span, as Zipkin JSON v2. */
  spans: Array<Record<string, any>>;
  /** The lines with this `msg` (at `level`, by default any). */
  logged(msg: string, level?: string): Array<Record<string, any>>;
}

export function observed(serviceName = 'test'): Observed {
  const lines: Array<Record<string, any>> = [];
  const exporter = createMemoryExporter();
  return {
    log: createLogger({ service: serviceName }, { level: 'debug', write: (line) => lines.push(JSON.parse(line) as Record<string, any>) }),
    lines,
    tracing: new Tracing({ serviceName, exporter }),
    spans: exporter.spans,
    logged: (msg, level) => lines.filter((line) => line.msg === msg && (level === undefined || line.level === level)),
  };
}

/** An operator's (or another client's) connection to a broker. */
export class Operator {
  private constructor(
    readonly connection: ChannelModel,
    readonly channel: Channel,
  ) {}

  /** Runs `work` on an operator connection of its own to `url`, closed afterwards (an outage closes every connection). */
  static async using<T>(url: string, work: (operator: Operator) => Promise<T>): Promise<T> {
    const operator = await Operator.connect(url);
    try {
      return await work(operator);
    } finally {
      await operator.close();
    }
  }

  /** Connects to `url`, by default the test run's broker. */
  static async connect(url = AMQP_URL): Promise<Operator> {
    const connection = await amqp.connect(url);
    connection.on('error', () => {});
    const channel = await connection.createConfirmChannel();
    return new Operator(connection, channel);
  }

  /** Publishes a message as another client would, headers typed as given; resolves on the confirm. */
  publish(queue: string, content: string, options: amqp.Options.Publish = {}): Promise<void> {
    return new Promise((resolve, reject) =>
      (this.channel as amqp.ConfirmChannel).sendToQueue(queue, Buffer.from(content), { persistent: true, ...options }, (error: unknown) =>
        error ? reject(error) : resolve(),
      ),
    );
  }

  async delete(queue: string): Promise<void> {
    await this.channel.deleteQueue(queue);
  }

  /**
   * Deletes `queue` and takes its name: an exclusive queue on this connection that nobody
   * else can declare or consume from (405 RESOURCE_LOCKED) and that refuses every message
   * (basic.nack), until `close`.
   */
  async hold(queue: string): Promise<void> {
    await this.channel.deleteQueue(queue);
    await this.channel.assertQueue(queue, { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
  }

  /** Removes a test's queue and its dead-letter queue. */
  async remove(queue: string): Promise<void> {
    for (const name of [queue, deadLetterQueue(queue)]) await this.channel.deleteQueue(name);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => {});
  }
}
