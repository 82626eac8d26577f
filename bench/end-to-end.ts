/**
 * (2) End to end, `GET /accounts/10001` through the landscape against a bare Hono route on
 * the same runtime; and, measured during the same runs, (3) the `queryaccount` span's
 * duration, (4) each service's resident memory, and (5) span export at increasing load.
 * The landscape is started by tools/landscape.ts, as `npm start` and the end-to-end tests do.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICES, startLandscape, type Runtime, type ServiceName } from '../tools/landscape.ts';
import { deleteQueue, ensureRabbitMQ } from '../tools/rabbitmq.ts';
import { alternate, describe, load, median, percentile, summarise, type LoadResult } from './load.ts';
import {
  cpuSeconds,
  sampleMemory,
  startCollectorProcess,
  startScript,
  type CollectorProcess,
  type MemorySample,
} from './processes.ts';
import { sleep } from '../tools/wait.ts';

export const AMQP_URL = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';
/** The original's quote strength (about 0.4 ms of CPU in quotes-service per request). */
export const ORIGINAL_QUOTE_STRENGTH = 4;
/**
 * accountservice SERVER, queryaccount, getquote and getimageurl CLIENT; quotes SERVER (and burn-cpu when
 * the strength is above 0); image SERVER.
 */
export const spansPerRequest = (quoteStrength: number) => (quoteStrength > 0 ? 7 : 6);
/**
 * `landscape` runs at the settings' quote strength; `landscape-original` at the original's, for comparison;
 * `bare-chain` is the landscape's shape without its features (bench/servers/bare-chain.ts).
 */
const CONTENDERS = ['landscape', 'bare', 'landscape-original', 'bare-chain'] as const;
type Contender = (typeof CONTENDERS)[number];

export interface EndToEndSettings {
  runtime: Runtime;
  /** QUOTE_STRENGTH of the measured landscape (0: the plumbing alone, no CPU burnt for quotes). */
  quoteStrength: number;
  connections: number;
  durationS: number;
  rounds: number;
  warmupS: number;
  /**
   * Connections per export step, closed loop (autocannon's rate limit sends each second's quota in one burst);
   * none: the steps are skipped.
   */
  exportSteps?: number[];
  exportStepS?: number;
  /** Connections for the overload step past the last one. */
  overloadConnections?: number;
  /** Node flags for the services (e.g. --cpu-prof), via NODE_OPTIONS. */
  nodeOptions?: string;
}

export interface ExportStep {
  label: string;
  connections: number;
  /** Past the landscape's capacity on purpose. */
  overload: boolean;
  load: LoadResult;
  expectedSpans: number;
  deliveredSpans: number;
  /** Spans delivered per second of load. */
  spansPerSecond: number;
}

export interface EndToEndResult {
  settings: EndToEndSettings;
  rounds: Record<Contender, LoadResult[]>;
  summary: Record<Contender, LoadResult>;
  /** Median over rounds of landscape req/s ÷ bare req/s in the same round. */
  ratio: number;
  /** The same for the landscape at the original's quote strength. */
  originalRatio: number;
  /** The same for the bare chain: a bare Hono front making the landscape's two calls to bare Hono processes. */
  chainRatio: number;
  /** CPU time per request of the bare chain's front, µs: what accountservice's work costs at the least. */
  chainFrontCpuUs: number;
  /** CPU time per landscape request by process, µs (the load generator included). */
  cpuPerRequestUs: Record<ServiceName | 'load generator', number>;
  /** Resident memory during the landscape's measured rounds, bytes; `anonMedian`: the anonymous part (RssAnon). */
  rss: Record<ServiceName, { median: number; max: number; anonMedian: number }>;
  /** `queryaccount` span durations reported by accountservice, µs. */
  queryaccount: { count: number; medianUs: number; p99Us: number };
  exportSteps: ExportStep[];
  /** Drops reported by the services' exporters (`span export degraded` log lines). */
  exporterDropsLogged: number;
  exporterFailedBatchesLogged: number;
  /** The landscape's store, kept for the LMDB micro-benchmark; the caller removes it. */
  dataDir: string;
}


export async function runEndToEnd(settings: EndToEndSettings, progress: (line: string) => void): Promise<EndToEndResult> {
  const { runtime, connections, durationS, rounds, warmupS } = settings;
  await ensureRabbitMQ(AMQP_URL, { log: progress });
  const dataDir = mkdtempSync(join(tmpdir(), `bench-${runtime}-`));
  const vipQueue = `vip_queue.bench-${randomUUID().slice(0, 8)}`;
  const degraded = { dropped: 0, failed: 0 };
  const onLog = (_service: ServiceName, line: string) => {
    if (!line.includes('span export degraded')) return;
    const fields = JSON.parse(line) as { droppedSpans?: number; failedBatches?: number };
    degraded.dropped += fields.droppedSpans ?? 0;
    degraded.failed += fields.failedBatches ?? 0;
  };
  const stops: Array<() => Promise<void>> = [];
  /** A landscape with a collector of its own, so each one's spans are counted apart. */
  const startMeasured = async (quoteStrength: number, storeDir: string, nodeOptions?: string) => {
    const spans = await startCollectorProcess();
    stops.push(spans.stop);
    const started = await startLandscape({
      runtime,
      zipkinUrl: spans.url,
      amqpUrl: AMQP_URL,
      dataDir: storeDir,
      onLog,
      env: { VIP_QUEUE: vipQueue, QUOTE_STRENGTH: String(quoteStrength), ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
    });
    stops.push(() => started.stop());
    return { collector: spans, landscape: started };
  };
  const originalDir = mkdtempSync(join(tmpdir(), `bench-${runtime}-original-`));
  try {
    const { collector, landscape } = await startMeasured(settings.quoteStrength, dataDir, settings.nodeOptions);
    const original = (await startMeasured(ORIGINAL_QUOTE_STRENGTH, originalDir)).landscape;
    const bare = await startScript(`bare (${runtime})`, 'bare.ts', { runtime });
    stops.push(bare.stop);
    const chainCalls = [];
    for (const name of ['quote', 'image']) {
      const called = await startScript(`bare chain ${name} (${runtime})`, 'downstream.ts', { runtime });
      stops.push(called.stop);
      chainCalls.push(called.url);
    }
    const chain = await startScript(`bare chain (${runtime})`, 'bare-chain.ts', {
      runtime,
      env: { QUOTE_URL: chainCalls[0]!, IMAGE_URL: chainCalls[1]! },
    });
    stops.push(chain.stop);
    const url: Record<Contender, string> = {
      landscape: `${landscape.services.accountservice.url}/accounts/10001`,
      bare: `${bare.url}/accounts/10001`,
      'landscape-original': `${original.services.accountservice.url}/accounts/10001`,
      'bare-chain': `${chain.url}/accounts/10001`,
    };
    const pidOf = (name: ServiceName) => landscape.services[name].process.pid!;
    const pids = Object.fromEntries(SERVICES.map((name) => [name, pidOf(name)])) as Record<ServiceName, number>;

    const rssSamples: Record<string, MemorySample[]> = Object.fromEntries(SERVICES.map((name) => [name, []]));
    const cpu = { seconds: Object.fromEntries([...SERVICES, 'load generator'].map((name) => [name, 0])), requests: 0 };
    const chainFront = { seconds: 0, requests: 0 };
    const measured = async (contender: Contender, seconds: number, round: boolean) => {
      if (contender === 'bare-chain' && round) {
        const before = cpuSeconds(chain.process.pid!);
        const result = await load({ url: url[contender], connections, durationS: seconds });
        chainFront.seconds += cpuSeconds(chain.process.pid!) - before;
        chainFront.requests += result.ok;
        return result;
      }
      if (contender !== 'landscape' || !round) return load({ url: url[contender], connections, durationS: seconds });
      const rss = sampleMemory(pids);
      const before = new Map(SERVICES.map((name) => [name, cpuSeconds(pids[name])]));
      const selfBefore = process.cpuUsage();
      const result = await load({ url: url[contender], connections, durationS: seconds });
      for (const [name, samples] of Object.entries(rss.stop())) rssSamples[name]!.push(...samples);
      for (const name of SERVICES) cpu.seconds[name]! += cpuSeconds(pids[name]) - before.get(name)!;
      const self = process.cpuUsage(selfBefore);
      cpu.seconds['load generator']! += (self.user + self.system) / 1e6;
      cpu.requests += result.ok;
      return result;
    };
    const results = await alternate(
      CONTENDERS,
      rounds,
      (contender) => measured(contender, durationS, true),
      (contender) => measured(contender, warmupS, false),
      (contender, round, r) => progress(`end-to-end ${runtime} ${contender} round ${round + 1}: ${describe(r)}`),
    );
    await bare.stop();
    await chain.stop();
    await original.stop();

    const summary = Object.fromEntries(CONTENDERS.map((c) => [c, summarise(results[c])])) as Record<Contender, LoadResult>;
    const ratioToBare = (contender: Contender) => median(results[contender].map((r, i) => r.rps / results.bare[i]!.rps));
    const exportSteps = settings.exportSteps
      ? await runExportSteps(settings, url.landscape, collector, progress)
      : [];

    // Stopping flushes every service's spans; then the collector has them all.
    await landscape.stop();
    const durations = (await collector.durations('queryaccount')).sort((a, b) => a - b);
    const rss = Object.fromEntries(
      SERVICES.map((name) => {
        const samples = rssSamples[name]!;
        const rss = samples.map((sample) => sample.rss);
        return [name, { median: median(rss), max: Math.max(...rss), anonMedian: median(samples.map((sample) => sample.anon)) }];
      }),
    ) as EndToEndResult['rss'];
    const cpuPerRequestUs = Object.fromEntries(
      Object.entries(cpu.seconds).map(([name, seconds]) => [name, (seconds / cpu.requests) * 1e6]),
    ) as EndToEndResult['cpuPerRequestUs'];
    return {
      settings,
      rounds: results,
      summary,
      ratio: ratioToBare('landscape'),
      originalRatio: ratioToBare('landscape-original'),
      chainRatio: ratioToBare('bare-chain'),
      chainFrontCpuUs: (chainFront.seconds / chainFront.requests) * 1e6,
      cpuPerRequestUs,
      rss,
      queryaccount: { count: durations.length, medianUs: percentile(durations, 0.5), p99Us: percentile(durations, 0.99) },
      exportSteps,
      exporterDropsLogged: degraded.dropped,
      exporterFailedBatchesLogged: degraded.failed,
      dataDir,
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(originalDir, { recursive: true, force: true });
    await deleteQueue(AMQP_URL, vipQueue).catch(() => {});
  }
}

/**
 * (5) Load in steps up to and past the landscape's capacity; after each step the exporters
 * get time to send, then spans delivered are compared with the spans per request answered (requests
 * still in flight when a step ends, and retried calls, add a few more).
 */
async function runExportSteps(
  settings: EndToEndSettings,
  url: string,
  collector: CollectorProcess,
  progress: (line: string) => void,
): Promise<ExportStep[]> {
  const { exportSteps = [], exportStepS = 5, overloadConnections = 256 } = settings;
  const steps: ExportStep[] = [];
  const step = async (label: string, connections: number, overload = false) => {
    const before = (await collector.stats()).acceptedSpans;
    const result = await load({ url, connections, durationS: exportStepS });
    // Two export intervals (1 s each by default) for the last batches to arrive.
    await sleep(2500);
    const delivered = (await collector.stats()).acceptedSpans - before;
    const entry: ExportStep = {
      label,
      connections,
      overload,
      load: result,
      expectedSpans: result.ok * spansPerRequest(settings.quoteStrength),
      deliveredSpans: delivered,
      spansPerSecond: delivered / result.durationS,
    };
    steps.push(entry);
    progress(`export ${label}: ${describe(result)}, ${delivered}/${entry.expectedSpans} spans, ${result.errors} errors`);
  };
  for (const connections of exportSteps) await step(`${connections} connections`, connections);
  await step(`overload: ${overloadConnections} connections`, overloadConnections, true);
  // Exporters report drops at most every 10 s: wait for the report covering the last step.
  await sleep(8000);
  return steps;
}
