/**
 * What the end-to-end tests share: the test run's RabbitMQ (`testAmqpUrl`), the local
 * Zipkin-API collector, LMDB in a temporary directory, and the four services as real
 * processes.
 *
 * Every end-to-end file that imports this holds a connection to the broker at AMQP_URL
 * from its start to its end: if anything stops, restarts or closes that broker while
 * the file's tests run, the file fails, naming when and the broker's reason. The files
 * run one after another, so together they watch it for the whole suite.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import {
  startLandscape,
  startService,
  type Landscape,
  type LandscapeOptions,
  type RunningService,
  type Runtime,
  type ServiceName,
} from '../tools/landscape.ts';
import { testAmqpUrl, watchBroker, type BrokerWatch } from '../tools/rabbitmq-node.ts';
import { deleteQueue } from '../tools/rabbitmq.ts';
import type { Span } from '../tools/collector/span.ts';
import { assertNoSpanOutlivesItsParent } from './traces.ts';

export type { Span };
export * from './traces.ts';

/** The test run's broker (`testAmqpUrl`). */
export const AMQP_URL = testAmqpUrl();

let amqpUrlWatch: BrokerWatch | undefined;
before(async () => {
  amqpUrlWatch = await watchBroker(AMQP_URL);
});
after(async () => {
  await amqpUrlWatch?.close();
  assert.equal(amqpUrlWatch?.closedBy, undefined, `the broker at AMQP_URL (${AMQP_URL}) closed the connection held since this file started`);
});

/** Why the broker at AMQP_URL closed the connection this file holds on it, or undefined: it saw no stop or restart. */
export const amqpUrlClosedBy = () => amqpUrlWatch?.closedBy;

export interface LogLine {
  service: ServiceName;
  line: string;
  json: Record<string, unknown> | undefined;
}

export interface LoggedLandscape extends Landscape {
  /** This landscape's own VIP queue, so landscapes sharing the broker never consume each other's messages. */
  vipQueue: string;
  logs: LogLine[];
  dataDir: string;
  /**
   * Stops a service (SIGTERM, or SIGKILL for a crash; nothing if it is not running) and
   * starts it again on its port with its environment and data (plus `env`).
   */
  restart(name: ServiceName, options?: { signal?: NodeJS.Signals; env?: Record<string, string> }): Promise<RunningService>;
  /** Stops the services, removes the queue and the data directory. */
  close(): Promise<void>;
}

export interface TestLandscape extends LoggedLandscape {
  collector: RunningCollector;
}

type TestOptions = Partial<Omit<LandscapeOptions, 'runtime' | 'zipkinUrl' | 'dataDir' | 'onLog'>> & {
  /** The VIP queue's name; a fresh one by default. */
  vipQueue?: string;
};

/** A VIP queue name of a test's own, so landscapes sharing the broker never consume each other's messages. */
export const testQueueName = () => `vip_queue.test-${randomUUID().slice(0, 8)}`;

/**
 * The four services exporting to `zipkinUrl` (whatever is, or is not, there), their log
 * lines kept; on the broker at AMQP_URL unless `amqpUrl` names another.
 */
export async function startLoggedLandscape(runtime: Runtime, zipkinUrl: string, options: TestOptions = {}): Promise<LoggedLandscape> {
  const { vipQueue = testQueueName(), ...landscapeOptions } = options;
  const amqpUrl = options.amqpUrl ?? AMQP_URL;
  const dataDir = mkdtempSync(join(tmpdir(), 'landscape-e2e-'));
  const logs: LogLine[] = [];
  const onLog = (service: ServiceName, line: string) => {
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(line) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    logs.push({ service, line, json });
  };
  try {
    const landscape = await startLandscape({
      runtime,
      zipkinUrl,
      amqpUrl,
      dataDir,
      onLog,
      ...landscapeOptions,
      env: { ZIPKIN_EXPORT_INTERVAL_MS: '200', VIP_QUEUE: vipQueue, ...options.env },
    });
    return {
      ...landscape,
      vipQueue,
      logs,
      dataDir,
      async restart(name, { signal = 'SIGTERM', env = {} } = {}) {
        const old = landscape.services[name];
        await old.stop(signal);
        const service = await startService(name, { ...old.env, PORT: String(old.port), ...env }, { runtime, onLog });
        landscape.services[name] = service;
        return service;
      },
      async close() {
        await landscape.stop();
        await deleteQueue(amqpUrl, vipQueue);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    for (const { line } of logs.slice(-20)) console.error(line);
    throw error;
  }
}

/**
 * accountservice settings for tests about traces under concurrency rather than about
 * timeouts: on a loaded machine, hundreds of requests at once would otherwise time out
 * attempts, and the retry budget rightly turns those into fallbacks (resilience.test.ts).
 */
export const PATIENT_CALLS = { RETRY_ATTEMPT_TIMEOUT_MS: '10000', RETRY_DEADLINE_MS: '20000' };

/** The landscape exporting to a local collector of its own. */
export async function startTestLandscape(runtime: Runtime, options: TestOptions = {}): Promise<TestLandscape> {
  const collector = await startCollector({ port: 0 });
  try {
    const landscape = await startLoggedLandscape(runtime, collector.url, options);
    return {
      ...landscape,
      collector,
      close: () => closeCheckingSpans(collector, () => landscape.close()),
    };
  } catch (error) {
    await collector.close();
    throw error;
  }
}

/**
 * Stops what reports to the collector (stopped services have flushed their spans, so it then
 * holds every trace of the test), checks that no span there outlives its parent, and closes it.
 */
export async function closeCheckingSpans(collector: RunningCollector, stop: () => Promise<unknown>): Promise<void> {
  try {
    await stop();
    const spans = collector.store.getTraces({ endTs: Date.now(), lookback: Date.now(), limit: Number.MAX_SAFE_INTEGER }).flat();
    assertNoSpanOutlivesItsParent(spans);
  } finally {
    await collector.close();
  }
}
