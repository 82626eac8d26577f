/**
 * `npm run load`: light, realistic traffic against the landscape `npm start` runs, so the
 * trace views have something real to show. Reads accounts (the VIP among them, and
 * unknown ids that answer 404), quotes and images at a steady rate for a while, with a
 * progress bar, then prints a summary: requests per second, p50/p99 latency, errors, and
 * a few traces to open.
 *
 *   npm run load                                  # 10 requests/s for 30 s
 *   npm run load -- --rate 50 --duration 120
 *
 * Bounded: at most 200 requests/s, 600 s and 64 requests in flight, and only to this
 * machine (127.0.0.1, on the ports npm start uses: ACCOUNTSERVICE_PORT and the others).
 */
import process from 'node:process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { DEFAULT_PORTS, portVariable, toolSettings, type ServiceName } from './landscape.ts';

const LIMITS = { rate: 200, durationS: 600, inFlight: 64 } as const;
const TIMEOUT_MS = 10_000;
const SAMPLE_IMAGES = readdirSync(new URL('../services/imageservice/samples/', import.meta.url)).filter((name) => name.endsWith('.jpg'));

/** One kind of request: where it goes, how often (relative weight), and which answer is expected. */
interface Kind {
  name: string;
  service: ServiceName;
  weight: number;
  expected: number;
  path: () => string;
}

const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const KINDS: Kind[] = [
  { name: 'account', service: 'accountservice', weight: 55, expected: 200, path: () => `/accounts/${between(10001, 10099)}` },
  { name: 'vip account', service: 'accountservice', weight: 5, expected: 200, path: () => '/accounts/10000' },
  { name: 'unknown account', service: 'accountservice', weight: 10, expected: 404, path: () => `/accounts/${between(20000, 29999)}` },
  { name: 'quote', service: 'quotes-service', weight: 15, expected: 200, path: () => `/api/quote?strength=${between(0, 20)}` },
  { name: 'image', service: 'imageservice', weight: 10, expected: 200, path: () => `/file/${SAMPLE_IMAGES[between(0, SAMPLE_IMAGES.length - 1)]}` },
  { name: 'image url', service: 'imageservice', weight: 5, expected: 200, path: () => `/accounts/${between(10000, 10099)}` },
];
const TOTAL_WEIGHT = KINDS.reduce((sum, kind) => sum + kind.weight, 0);

function pickKind(): Kind {
  let roll = Math.random() * TOTAL_WEIGHT;
  for (const kind of KINDS) if ((roll -= kind.weight) < 0) return kind;
  return KINDS[0]!;
}

interface Outcome {
  kind: Kind;
  path: string;
  ms: number;
  status?: number;
  error?: string;
  traceId?: string;
}

class UsageError extends Error {}

const USAGE = 'usage: npm run load -- [--rate <requests/s, 1..200>] [--duration <seconds, 1..600>]';

function options(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { rate: { type: 'string', default: '10' }, duration: { type: 'string', default: '30' }, help: { type: 'boolean' } },
    }));
  } catch (error) {
    // An unknown option, or one without its value: parseArgs's own words, then the usage.
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) throw new UsageError(USAGE);
  const bounded = (name: string, text: string, max: number) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > max) throw new UsageError(`--${name}: expected a number above 0 and at most ${max}, got ${JSON.stringify(text)}`);
    return value;
  };
  return { rate: bounded('rate', values.rate, LIMITS.rate), durationS: bounded('duration', values.duration, LIMITS.durationS) };
}

/** Loopback only, on the ports npm start uses. */
function portOf(name: ServiceName): number {
  const variable = portVariable(name);
  const text = process.env[variable];
  const port = text ? Number(text) : DEFAULT_PORTS[name];
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(`${variable}: expected a port from 1 to 65535, got ${JSON.stringify(text)}`);
  return port;
}

async function send(kind: Kind, base: string): Promise<Outcome> {
  const path = kind.path();
  const started = performance.now();
  try {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await response.arrayBuffer();
    const traceId = /^00-([0-9a-f]{32})-/.exec(response.headers.get('traceresponse') ?? '')?.[1];
    const outcome: Outcome = { kind, path, ms: performance.now() - started, status: response.status, traceId };
    if (response.status !== kind.expected) outcome.error = `answered ${response.status}, expected ${kind.expected}`;
    return outcome;
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { kind, path, ms: performance.now() - started, error: `${error instanceof Error ? error.message : String(error)}${cause}` };
  }
}

/** The value below which `fraction` of the sorted values fall (nearest rank). */
function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const { rate, durationS } = options(process.argv.slice(2));
  const bases = Object.fromEntries(
    (['accountservice', 'quotes-service', 'imageservice'] as const).map((name) => [name, `http://127.0.0.1:${portOf(name)}`]),
  ) as Record<ServiceName, string>;
  const zipkin = process.env['ZIPKIN_URL'] || `http://127.0.0.1:${process.env['ZIPKIN_PORT'] || 9411}`;
  for (const [name, base] of Object.entries(bases)) {
    const up = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (!up) throw new UsageError(`${name} does not answer at ${base} (${portVariable(name as ServiceName)}); is npm start running?`);
  }

  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let skipped = 0;
  let errors = 0;
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} s | {requests} requests, {errors} errors',
      stream: process.stderr,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  console.error(`load: ${rate} requests/s for ${durationS} s against 127.0.0.1 (Ctrl+C ends it early, with the summary)`);
  bar.start(Math.round(durationS), 0, { requests: 0, errors: 0 });

  const started = performance.now();
  let stopped = false;
  process.once('SIGINT', () => (stopped = true));
  // Open loop: request i leaves at i / rate seconds whatever the answers' latency, up to the in-flight bound.
  const total = Math.max(1, Math.round(rate * durationS));
  while (!stopped && sent + skipped < total) {
    const elapsedS = (performance.now() - started) / 1000;
    for (const due = Math.min(total, Math.floor(elapsedS * rate) + 1); sent + skipped < due; ) {
      if (inFlight.size >= LIMITS.inFlight) {
        skipped++;
        continue;
      }
      sent++;
      const kind = pickKind();
      const request = send(kind, bases[kind.service]).then((outcome) => {
        outcomes.push(outcome);
        if (outcome.error) errors++;
        inFlight.delete(request);
      });
      inFlight.add(request);
    }
    bar.update(Math.min(Math.floor(elapsedS), Math.round(durationS)), { requests: outcomes.length, errors });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  bar.update(Math.round(durationS), { requests: outcomes.length, errors });
  bar.stop();
  console.log(summary(outcomes, seconds, skipped, zipkin));
}

function summary(outcomes: Outcome[], seconds: number, skipped: number, zipkin: string): string {
  const latencies = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const failed = outcomes.filter((o) => o.error);
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const byKind = KINDS.map((kind) => `${kind.name} ${outcomes.filter((o) => o.kind === kind).length}`).join(', ');
  const reasons = new Map<string, number>();
  for (const { error } of failed) reasons.set(error!, (reasons.get(error!) ?? 0) + 1);

  const traced = outcomes.filter((o) => o.traceId);
  const slowest = [...traced].sort((a, b) => b.ms - a.ms);
  const picks = new Map<string, Outcome>();
  const pick = (label: string, outcome: Outcome | undefined) => outcome && !picks.has(label) && picks.set(label, outcome);
  pick('the slowest', slowest[0]);
  pick('a VIP read', traced.find((o) => o.kind.name === 'vip account'));
  pick('an unknown account', traced.find((o) => o.kind.name === 'unknown account'));
  pick('an error', traced.find((o) => o.error));
  pick('the second slowest', slowest[1]);

  const lines = [
    '',
    `${outcomes.length} requests in ${seconds.toFixed(1)} s: ${(outcomes.length / seconds).toFixed(1)} requests/s` +
      (skipped ? ` (${skipped} not sent: ${LIMITS.inFlight} were in flight)` : ''),
    `latency p50 ${ms(percentile(latencies, 0.5))}, p99 ${ms(percentile(latencies, 0.99))}, max ${ms(latencies.at(-1) ?? NaN)}`,
    `errors ${failed.length}${[...reasons].map(([reason, count]) => `\n  ${count} × ${reason}`).join('')}`,
    `by kind: ${byKind}`,
    '',
    'Traces to open:',
    ...[...picks].map(
      ([label, o]) => `  ${o.traceId}  ${label}: ${o.kind.service} ${o.path} ${o.status ?? '-'} ${ms(o.ms)}\n    ${zipkin}/zipkin/traces/${o.traceId}`,
    ),
    `  ${toolSettings()}npm run trace <trace id>   # as a waterfall in the terminal`,
  ];
  return lines.join('\n');
}

try {
  await main();
} catch (error) {
  console.error(error instanceof UsageError ? error.message : error);
  process.exit(1);
}
