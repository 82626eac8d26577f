/**
 * (1) Tracing overhead on one service: the same Hono handler (a SERVER span, a local
 * child span, a traced outgoing call over lib/http-transport.ts) untraced, traced by lib/tracing, and traced by
 * OpenTelemetry (@hono/otel + the OTel SDK + its Zipkin exporter), each in its own Node
 * process calling the same downstream process; both tracers export to a collector.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../tools/landscape.ts';
import { alternate, describe, load, median, summarise, type LoadResult } from './load.ts';
import {
  cpuSeconds,
  pinToCpus,
  startCollectorProcess,
  startScript,
  type BenchProcess,
  type CollectorProcess,
} from './processes.ts';

export const VARIANTS = ['untraced', 'ours', 'otel', 'ours-unsampled', 'ours-unexported', 'ours-b3-single'] as const;
export type Variant = (typeof VARIANTS)[number];
const TRACED = ['ours', 'otel', 'ours-b3-single'] as const;
type Traced = (typeof TRACED)[number];
const isTraced = (variant: Variant): variant is Traced => (TRACED as readonly string[]).includes(variant);
/**
 * The script and environment of each variant: `ours-unsampled` propagates context and records nothing;
 * `ours-unexported` records spans and drops them (what export costs is the difference from `ours`);
 * `ours-b3-single` writes the one `b3` header instead of the four `X-B3-*` ones (with `traceparent`).
 */
export const SERVERS: Record<Variant, [string, Record<string, string>]> = {
  untraced: ['untraced.ts', {}],
  ours: ['ours.ts', {}],
  otel: ['otel.ts', {}],
  'ours-unsampled': ['ours.ts', { TRACING_SAMPLE_RATE: '0' }],
  'ours-unexported': ['ours.ts', { EXPORT: 'none' }],
  'ours-b3-single': ['ours.ts', { B3: 'single' }],
};
/** SERVER, the local child, CLIENT. */
const SPANS_PER_REQUEST = 3;

export interface OverheadSettings {
  connections: number;
  durationS: number;
  rounds: number;
  warmupS: number;
  /** Profiles each handler process (`--cpu-prof`) into `<profileDir>/<variant>/`. */
  profileDir?: string;
  /** After the rounds in turn: every variant at once, at this many req/s each (see measureAtOnce). */
  atOnce: AtOnceSettings;
}

export interface OverheadResult {
  settings: OverheadSettings;
  rounds: Record<Variant, LoadResult[]>;
  summary: Record<Variant, LoadResult>;
  /** Median over rounds of (variant req/s ÷ untraced req/s in the same round). */
  throughputRatio: Record<Variant, number>;
  /** 1 − throughputRatio. */
  overhead: Record<Variant, number>;
  spans: Record<Traced, { expected: number; delivered: number }>;
  /** CPU time of the handler process per request, µs (median over rounds): contention-free cost. */
  cpuPerRequestUs: Record<Variant, number>;
  /** CPU µs per request above the untraced handler's: median over rounds of the difference within a round. */
  cpuAddedUs: Record<Variant, number>;
  /** Share of one core the collector used during the traced rounds (it shares the machine). */
  collectorCores: number;
  /** Handlers pinned to the first CPU, everything else (load generator, downstream, collectors) to the others. */
  pinned: boolean;
  /** CPU per request with every variant at once at a fixed rate: what the targets are measured by. */
  atOnce: AtOnceResult<Variant>;
}

export interface AtOnceSettings {
  /** Offered req/s, each handler. */
  rate: number;
  windows: number;
  windowS: number;
}

export interface AtOnceResult<Name extends string> {
  settings: AtOnceSettings;
  /** Median over windows. */
  rps: Record<Name, number>;
  /** CPU µs per request, median over windows. */
  cpuPerRequestUs: Record<Name, number>;
  /** Median over windows of (CPU µs per request − the baseline's in the same window). */
  cpuAddedUs: Record<Name, number>;
  /** Requests answered in all, warm-up included. */
  answered: Record<Name, number>;
}

/**
 * Drives every handler at once, each at the same fixed rate (autocannon, open loop, 10 connections),
 * and reads each one's CPU per request over the same windows, after a warm-up window twice as long.
 * The shared machine's drift then lands on every handler within a window, so the differences
 * between them hold steadier than between rounds in turn (±5–10 µs from window to window, against
 * ±30); absolute µs still move with the machine's speed from run to run. The handlers must share one
 * core and leave it room: at a fixed rate each answers what it is offered, its CPU is its own cost.
 */
export async function measureAtOnce<Name extends string>(
  handlers: Record<Name, { url: string; pid: number }>,
  baseline: NoInfer<Name>,
  settings: AtOnceSettings,
  progress: (line: string) => void,
): Promise<AtOnceResult<Name>> {
  const { rate, windows, windowS } = settings;
  const names = Object.keys(handlers) as Name[];
  const each = <T>(pick: (name: Name) => T) => Object.fromEntries(names.map((name) => [name, pick(name)])) as Record<Name, T>;
  const cpu = each((): number[] => []);
  const rps = each((): number[] => []);
  const answered = each(() => 0);
  const window = async (seconds: number, counted: boolean) => {
    const before = names.map((name) => cpuSeconds(handlers[name].pid));
    const results = await Promise.all(
      names.map((name) => load({ url: `${handlers[name].url}/accounts/10001`, connections: 10, durationS: seconds, rate })),
    );
    names.forEach((name, i) => (answered[name] += results[i]!.ok));
    if (!counted) return;
    names.forEach((name, i) => {
      cpu[name].push(((cpuSeconds(handlers[name].pid) - before[i]!) / results[i]!.ok) * 1e6);
      rps[name].push(results[i]!.rps);
    });
  };
  await window(2 * windowS, false);
  for (let w = 0; w < windows; w++) {
    await window(windowS, true);
    progress(`at once, ${rate} req/s each: window ${w + 1} of ${windows}`);
  }
  return {
    settings,
    rps: each((name) => median(rps[name])),
    cpuPerRequestUs: each((name) => median(cpu[name])),
    cpuAddedUs: each((name) => median(cpu[name].map((us, i) => us - cpu[baseline][i]!))),
    answered,
  };
}

export async function runOverhead(settings: OverheadSettings, progress: (line: string) => void): Promise<OverheadResult> {
  const { connections, durationS, rounds, warmupS, profileDir } = settings;
  const started: Array<BenchProcess | CollectorProcess> = [];
  let unpin = () => {};
  try {
    // One collector per traced variant, so each one's delivered spans are counted apart (the unsampled one sends none).
    const collectors = {} as Record<Traced, CollectorProcess>;
    for (const variant of TRACED) started.push((collectors[variant] = await startCollectorProcess()));
    const collectorOf = (variant: Variant) => collectors[isTraced(variant) ? variant : 'ours'];
    const downstream = await startScript('downstream', 'downstream.ts');
    started.push(downstream);
    const servers = {} as Record<Variant, BenchProcess>;
    for (const variant of VARIANTS) {
      const [script, env] = SERVERS[variant];
      servers[variant] = await startScript(variant, script, {
        env: { DOWNSTREAM_URL: downstream.url, ZIPKIN_URL: collectorOf(variant).url, ...env },
        nodeFlags: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, variant)}`] : [],
      });
      started.push(servers[variant]);
    }

    // The handler under test gets a core of its own: its throughput is then its own CPU cost, not how the
    // scheduler shared two cores with the load generator, the downstream process and the collectors.
    const cpus = os.availableParallelism();
    const pinned =
      cpus >= 2 &&
      VARIANTS.every((variant) => pinToCpus(servers[variant].process.pid!, '0')) &&
      [process.pid, downstream.process.pid!, ...TRACED.map((variant) => collectors[variant].pid)].every((pid) =>
        pinToCpus(pid, `1-${cpus - 1}`),
      );
    if (pinned) unpin = () => void pinToCpus(process.pid, `0-${cpus - 1}`);

    const served = Object.fromEntries(VARIANTS.map((v) => [v, 0])) as Record<Variant, number>;
    const cpu = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const collectorCpu = { seconds: 0, wall: 0 };
    const url = (variant: Variant) => `${servers[variant].url}/accounts/10001`;
    const counted = async (variant: Variant, seconds: number, measured: boolean) => {
      const pid = servers[variant].process.pid!;
      const collector = isTraced(variant) ? collectors[variant] : undefined;
      const before = { server: cpuSeconds(pid), collector: collector ? cpuSeconds(collector.pid) : 0 };
      const result = await load({ url: url(variant), connections, durationS: seconds });
      served[variant] += result.ok;
      if (measured) {
        cpu[variant].push(((cpuSeconds(pid) - before.server) / result.ok) * 1e6);
        if (collector) {
          collectorCpu.seconds += cpuSeconds(collector.pid) - before.collector;
          collectorCpu.wall += result.durationS;
        }
      }
      return result;
    };
    const results = await alternate(
      VARIANTS,
      rounds,
      (variant) => counted(variant, durationS, true),
      (variant) => counted(variant, warmupS, false),
      (variant, round, r) => progress(`overhead ${variant} round ${round + 1}: ${describe(r)}`),
    );

    const atOnce = await measureAtOnce(
      Object.fromEntries(VARIANTS.map((v) => [v, { url: servers[v].url, pid: servers[v].process.pid! }])) as Record<Variant, { url: string; pid: number }>,
      'untraced',
      settings.atOnce,
      progress,
    );
    for (const variant of VARIANTS) served[variant] += atOnce.answered[variant];

    // Stopping flushes each tracer (ours: Tracing.flush, OTel: provider.shutdown) before exit.
    await Promise.all(VARIANTS.map((variant) => servers[variant].stop()));
    const spans = {} as OverheadResult['spans'];
    for (const variant of TRACED) {
      const { acceptedSpans } = await collectors[variant].stats();
      spans[variant] = { expected: served[variant] * SPANS_PER_REQUEST, delivered: acceptedSpans };
    }

    const base = results.untraced;
    const throughputRatio = {} as Record<Variant, number>;
    const overhead = {} as Record<Variant, number>;
    for (const variant of VARIANTS) {
      throughputRatio[variant] = median(results[variant].map((r, i) => r.rps / base[i]!.rps));
      overhead[variant] = 1 - throughputRatio[variant];
    }
    const summary = Object.fromEntries(VARIANTS.map((v) => [v, summarise(results[v])])) as Record<Variant, LoadResult>;
    const cpuPerRequestUs = Object.fromEntries(VARIANTS.map((v) => [v, median(cpu[v])])) as Record<Variant, number>;
    const cpuAddedUs = Object.fromEntries(
      VARIANTS.map((v) => [v, median(cpu[v].map((us, i) => us - cpu.untraced[i]!))]),
    ) as Record<Variant, number>;
    const collectorCores = collectorCpu.seconds / collectorCpu.wall;
    return { settings, rounds: results, summary, throughputRatio, overhead, spans, cpuPerRequestUs, cpuAddedUs, collectorCores, pinned, atOnce };
  } finally {
    unpin();
    await Promise.all(started.map((p) => p.stop()));
  }
}

/** Per request, µs, by variant (the work of tracing without HTTP: bench/servers/tracing-cost.ts). */
export type TracingCost = Record<string, number>;

const run = promisify(execFile);

/** Runs the in-process cost measurement for our tracer and OTel, each in its own process. */
export async function runTracingCost(rounds: number, perRound: number) {
  const measure = async (tracer: 'ours' | 'otel') => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/servers/tracing-cost.ts', tracer], {
      cwd: ROOT,
      env: { ...process.env, ROUNDS: String(rounds), PER_ROUND: String(perRound) },
    });
    const results = JSON.parse(stdout) as Record<string, number[]>;
    return Object.fromEntries(Object.entries(results).map(([name, values]) => [name, median(values)]));
  };
  return { ours: await measure('ours'), otel: await measure('otel') };
}
