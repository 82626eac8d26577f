/** The Markdown report: the machine, ratios against the targets first, absolute numbers second. */
import type { Runtime } from '../tools/landscape.ts';
import { ORIGINAL_QUOTE_STRENGTH, spansPerRequest, type EndToEndResult } from './end-to-end.ts';
import type { CallCostResult } from './calls.ts';
import type { ContainerMemoryResult } from './containers.ts';
import type { ExporterResult } from './export.ts';
import type { LoadResult } from './load.ts';
import type { OverheadResult, TracingCost, Variant } from './overhead.ts';
import type { ProfileSummary } from './profile.ts';
import type { LmdbReadResult } from './storage.ts';

export interface Machine {
  cpu: string;
  /** The commit measured, and product files changed on top of it. */
  revision: string;
  cores: number;
  memoryGiB: number;
  node: string;
  deno: string;
  kernel: string;
  date: string;
}

export interface Results {
  machine: Machine;
  quick: boolean;
  durationS: number;
  overhead?: OverheadResult;
  tracingCost?: { ours: TracingCost; otel: TracingCost };
  endToEnd: Partial<Record<Runtime, EndToEndResult>>;
  lmdb: LmdbReadResult[];
  exporter?: ExporterResult;
  containers?: ContainerMemoryResult;
  calls?: CallCostResult;
  profiles: Array<{ process: string; summary: ProfileSummary }>;
}

const TARGET = {
  /** CPU µs per request that tracing adds to one Node service (traced − untraced). */
  cpuAddedUs: 30,
  /** The same ÷ OpenTelemetry's. */
  cpuAddedVsOtel: 0.25,
  /** One request's tracing work alone, µs (bench/servers/tracing-cost.ts). */
  tracingWorkUs: 6,
  /** accountservice CPU µs per request at strength 0. */
  accountserviceCpuUs: { node: 450, deno: 200 } as Record<Runtime, number>,
  /** Landscape ÷ bare Hono req/s at strength 0. */
  endToEnd: { node: 0.08, deno: 0.1 } as Record<Runtime, number>,
  queryaccountUs: 10,
  /** Container working set per service, MiB. */
  containerMiB: 64,
};
const MiB = 1024 * 1024;
const RUNTIMES: Runtime[] = ['node', 'deno'];
const LABEL: Record<Variant, string> = {
  untraced: 'untraced',
  ours: 'lib/tracing, 100 % sampled',
  otel: 'OpenTelemetry (@hono/otel + SDK), 100 % sampled',
  'ours-unsampled': 'lib/tracing, 0 % sampled (propagation only)',
  'ours-unexported': 'lib/tracing, 100 % sampled, spans dropped instead of exported',
  'ours-b3-single': 'lib/tracing, 100 % sampled, `b3` single header',
};

const n = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
const pct = (value: number, digits = 1) => `${n(value * 100, digits)} %`;
const mib = (bytes: number) => n(bytes / MiB, 1);
const met = (ok: boolean) => (ok ? '✅ met' : '❌ missed');

function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function loadRow(label: string, r: LoadResult, rounds?: LoadResult[]): Array<string | number> {
  const perRound = rounds ? rounds.map((x) => n(x.rps)).join(' / ') : '';
  return [label, n(r.rps), n(r.p50, 2), n(r.p99, 2), r.errors, ...(rounds ? [perRound] : [])];
}

function summary(results: Results): string {
  const rows: Array<Array<string | number>> = [];
  const row = (section: number, what: string, result: string, target: string, verdict: string) =>
    rows.push([section, what, result, target, verdict]);
  const { overhead, endToEnd, tracingCost } = results;
  if (overhead) {
    const { cpuAddedUs, cpuPerRequestUs } = overhead.atOnce;
    const ours = cpuAddedUs.ours;
    const otel = cpuAddedUs.otel;
    const result = `${n(ours)} µs (untraced: ${n(cpuPerRequestUs.untraced)} µs; in turn, closed loop: ${n(overhead.cpuAddedUs.ours)} µs)`;
    row(1, 'CPU per request that tracing adds to one service (traced − untraced, all at once), node', result, `≤ ${TARGET.cpuAddedUs} µs`, met(ours <= TARGET.cpuAddedUs));
    const versus = `${n(ours / otel, 2)} (OTel adds ${n(otel)} µs)`;
    row(1, 'the same ÷ OpenTelemetry\'s (@hono/otel + SDK)', versus, `≤ ${TARGET.cpuAddedVsOtel}`, met(ours / otel <= TARGET.cpuAddedVsOtel));
  }
  const work = tracingCost?.ours['ours: recorded and encoded'];
  if (work !== undefined) {
    const result = `${n(work, 1)} µs (OTel: ${n(tracingCost!.otel['otel: batched and encoded'] ?? Number.NaN, 1)} µs)`;
    row(1, 'tracing work alone, no HTTP (bench/servers/tracing-cost.ts)', result, `≤ ${TARGET.tracingWorkUs} µs`, met(work <= TARGET.tracingWorkUs));
  }
  if (overhead) {
    const { ours, otel } = overhead.overhead;
    row(1, 'throughput overhead (1 − traced ÷ untraced req/s), node', `${pct(ours)} (OTel: ${pct(otel)})`, 'report', '');
  }
  const ran = RUNTIMES.flatMap((runtime) => {
    const e = endToEnd[runtime];
    return e ? [[runtime, e] as const] : [];
  });
  for (const [runtime, e] of ran) {
    const us = e.cpuPerRequestUs.accountservice;
    const target = TARGET.accountserviceCpuUs[runtime];
    const strength = `strength ${e.settings.quoteStrength}`;
    row(2, `accountservice CPU per request at ${strength}, ${runtime}`, `${n(us)} µs`, `≤ ${target} µs`, met(us <= target));
  }
  for (const [runtime, e] of ran) {
    const target = TARGET.endToEnd[runtime];
    const strength = `strength ${e.settings.quoteStrength}`;
    row(2, `landscape ÷ bare Hono req/s at ${strength}, ${runtime}`, n(e.ratio, 3), `≥ ${target}`, met(e.ratio >= target));
    const original = `landscape ÷ bare Hono req/s at strength ${ORIGINAL_QUOTE_STRENGTH} (the original's), ${runtime}`;
    row(2, original, n(e.originalRatio, 3), 'report', '');
    row(2, `bare chain ÷ bare Hono req/s (the landscape's shape, nothing else), ${runtime}`, n(e.chainRatio, 3), 'report', '');
  }
  for (const [runtime, { queryaccount: q }] of ran) {
    const result = `${n(q.medianUs)} µs (${n(q.p99Us)} µs)`;
    const target = `≤ ${TARGET.queryaccountUs} µs median`;
    row(3, `queryaccount span median (p99), ${runtime}`, result, target, met(q.medianUs <= TARGET.queryaccountUs));
  }
  const containerTarget = `≤ ${TARGET.containerMiB} MiB each`;
  const what = "container working set per service under the benchmark's load (Deno, the chart's flags)";
  if (results.containers) {
    const services = Object.entries(results.containers.services).sort((a, b) => b[1].loadMaxBytes - a[1].loadMaxBytes);
    const over = services.filter(([, m]) => m.loadMaxBytes > TARGET.containerMiB * MiB);
    const each = services.map(([name, m]) => `${name} ${mib(m.loadMaxBytes)}`).join(', ');
    row(4, what, `${each} MiB (the largest sample of each)`, containerTarget, met(over.length === 0));
  }
  for (const [runtime, e] of ran) {
    const [name, worst] = Object.entries(e.rss).sort((a, b) => b[1].max - a[1].max)[0]!;
    row(4, `largest VmRSS under load (processes, not containers), ${runtime}`, `${mib(worst.max)} MiB (${name})`, 'report', '');
  }
  for (const [runtime, e] of ran) {
    const best = highestClean(e);
    if (!best) continue;
    const result = `${n(best.spansPerSecond)} spans/s (${n(best.load.rps)} req/s), ${e.exporterDropsLogged} dropped`;
    row(5, `spans exported with zero drops at the landscape's top load, ${runtime}`, result, 'no drops', met(e.exporterDropsLogged === 0));
  }
  if (results.exporter) {
    const top = results.exporter.steps.filter((s) => s.dropped === 0 && s.failedBatches === 0).at(-1);
    row(5, 'exporter alone: highest rate with zero drops', top ? `${n(top.madePerSecond)} spans/s` : '–', 'report', '');
  }
  for (const c of results.calls?.runtimes ?? []) {
    const result = `${n(c.clientUs)} µs (the exchange alone: ${n(c.exchangeUs)} µs)`;
    row(7, `CPU per call between services, ServiceClient, ${c.runtime}`, result, 'report', '');
  }
  return table(['#', 'measure', 'result', 'target', ''], rows);
}

/** The steady (not overload) export step with the most requests answered, no errors and every span delivered. */
function highestClean(e: EndToEndResult) {
  return e.exportSteps
    .filter((s) => !s.overload && s.load.errors === 0 && s.deliveredSpans >= s.expectedSpans)
    .sort((a, b) => b.load.rps - a.load.rps)[0];
}

function costRows(cost: TracingCost, untracedLabel: string): string[][] {
  return Object.entries(cost).map(([name, us]) => [name === 'untraced' ? untracedLabel : name, n(us, 1)]);
}

function overheadSection(o: OverheadResult, cost: Results['tracingCost']): string {
  const { connections, durationS, rounds, warmupS } = o.settings;
  const variants = Object.keys(o.summary) as Variant[];
  const parts = [
    '## 1. Tracing overhead on one service',
    '',
    `Node ${process.version}, one process per variant serving \`GET /accounts/10001\`: a SERVER span, a local child span ` +
      '(`queryaccount`, a map lookup) and a traced call to a downstream Hono process (untraced, the same for all) over ' +
      'lib/http-transport.ts, as `ServiceClient` calls (undici\'s `request` on a kept-alive pool). ' +
      `autocannon, ${connections} connections, closed loop; ${warmupS} s warm-up each, then ${rounds} rounds of ` +
      `${durationS} s, variants in turn. Sampling 100 % (one variant 0 %). Traced variants export to the local ` +
      `collector (one per variant, own processes; together ${n(o.collectorCores * 100)} % of a core during traced rounds). ` +
      (o.pinned
        ? 'Each handler process is pinned to the first core, everything else (this process with autocannon, the ' +
          'downstream process, the collectors) to the other: a handler\'s throughput is its own CPU cost. '
        : 'Not pinned to cores (no taskset): handlers share both cores with the load generator and the other processes. ') +
      'The OTel variant: @hono/otel ' +
      '`httpInstrumentationMiddleware`, `TracerProvider` with `BatchSpanProcessor` (defaults) and `ZipkinExporter`, ' +
      '`AsyncLocalStorageContextManager`, W3C propagator, `propagation.inject` into the outgoing call. Ours: ' +
      '`tracingMiddleware`, `Tracing`, `createZipkinExporter` as `runService` wires them; the CLIENT span and B3 + W3C ' +
      'headers as `ServiceClient` makes them (without breaker and retries, so all variants make the same plain call).',
    '',
    'In turn, closed loop (ratios: median over rounds of the ratio within a round):',
    '',
    table(
      ['variant', 'req/s ÷ untraced', 'overhead', 'CPU µs / request', 'CPU µs added', 'spans delivered / expected'],
      variants.map((v) => {
        const counted = o.spans[v as keyof OverheadResult['spans']] as OverheadResult['spans']['ours'] | undefined;
        const spans = counted ? `${n(counted.delivered)} / ${n(counted.expected)}` : '';
        const added = v === 'untraced' ? '' : n(o.cpuAddedUs[v]);
        return [LABEL[v], n(o.throughputRatio[v], 3), pct(o.overhead[v]), n(o.cpuPerRequestUs[v]), added, spans];
      }),
    ),
    '',
    'CPU µs / request: CPU time of the variant\'s process (all threads, to the nanosecond: /proc/PID/task/*/schedstat) over requests answered, median over rounds: ' +
      'what tracing costs regardless of how the two cores were shared. CPU µs added: the same less the untraced ' +
      'handler\'s in the same round, median over rounds. Spans expected: 3 per request answered; a few ' +
      'more arrive from requests in flight when a round ends.',
    '',
    `CPU per request with every variant at once (what the targets are measured by): the same handlers, after the ` +
      `rounds above, each offered ${n(o.atOnce.settings.rate)} req/s at the same time (autocannon, 10 connections, ` +
      `open loop), a warm-up window of ${n(2 * o.atOnce.settings.windowS)} s, then ${o.atOnce.settings.windows} windows ` +
      `of ${n(o.atOnce.settings.windowS)} s. In turn, each round meets the shared machine at another speed, and a ` +
      'closed loop runs each handler only as fast as the other core (load generator, downstream, collectors) lets ' +
      'it, which is not the same for every variant; at once, at a fixed rate, every handler answers what it is ' +
      'offered and the machine\'s drift lands on all of them within a window. CPU µs added: median over windows of ' +
      'the difference from the untraced handler in the same window. Absolute µs still move with the machine\'s ' +
      'speed from run to run.',
    '',
    table(
      ['variant', 'req/s answered', 'CPU µs / request', 'CPU µs added'],
      variants.map((v) => [
        LABEL[v],
        n(o.atOnce.rps[v]),
        n(o.atOnce.cpuPerRequestUs[v]),
        v === 'untraced' ? '' : n(o.atOnce.cpuAddedUs[v]),
      ]),
    ),
    '',
    'Absolute (medians over rounds; latency in ms):',
    '',
    table(
      ['variant', 'req/s', 'p50', 'p99', 'errors', 'req/s per round'],
      variants.map((v) => loadRow(LABEL[v], o.summary[v], o.rounds[v])),
    ),
  ];
  if (cost) {
    parts.push(
      '',
      '### The tracing work alone',
      '',
      'One request\'s tracing work without HTTP (bench/servers/tracing-cost.ts): the same spans, tags, propagation and ' +
        'an await where the call would be, in a loop; spans encoded as the exporter encodes them, not sent. One ' +
        'process per tracer; µs per request, median of rounds.',
      '',
      table(['variant', 'µs / request'], [
        ...costRows(cost.ours, 'untraced (our process)'),
        ...costRows(cost.otel, 'untraced (OTel process, AsyncLocalStorage on)'),
      ]),
    );
  }
  return parts.join('\n');
}

function endToEndSection(results: Results): string {
  const parts = ['## 2. End to end', ''];
  const any = Object.values(results.endToEnd)[0];
  if (!any) return '';
  const { connections, durationS, rounds, warmupS, quoteStrength } = any.settings;
  parts.push(
    '`GET /accounts/10001` at accountservice, through the landscape started by tools/landscape.ts (four services, ' +
      'RabbitMQ, LMDB in a temporary directory, the local collector; sampling 100 %, export every 1 s) against ' +
      '`GET /accounts/10001` of a bare Hono app (bench/servers/bare.ts) on the same runtime, and against a bare chain ' +
      '(bench/servers/bare-chain.ts): a bare Hono front that answers after the same two calls to two bare Hono ' +
      'processes, over the services\' transport, with none of the landscape\'s features (no tracing, breaker, retries, ' +
      'LMDB, messaging or log lines): the least a request of this shape costs here. The landscape measured ' +
      `against the target runs at QUOTE_STRENGTH=${quoteStrength}: the plumbing, which is what the ceiling counts. ` +
      `A second landscape (own collector) runs at the original's strength ${ORIGINAL_QUOTE_STRENGTH}, where ` +
      'quotes-service burns about 0.4 ms of CPU per request. ' +
      `autocannon, ${connections} connections, closed loop; ${warmupS} s warm-up each, ${rounds} rounds of ` +
      `${durationS} s, the four in turn. One request through the landscape is served three times and ` +
      'makes two calls, so about 0.2 of bare Hono is the ceiling.',
    '',
    table(
      ['runtime', 'contender', '÷ bare', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      RUNTIMES.flatMap((runtime) => {
        const e = results.endToEnd[runtime];
        if (!e) return [];
        const { landscape: l, bare: b, 'landscape-original': o, 'bare-chain': c } = e.summary;
        return [
          [runtime, `landscape, strength ${quoteStrength}`, n(e.ratio, 3), n(l.rps), n(l.p50, 2), n(l.p99, 2), l.errors],
          [runtime, `landscape, strength ${ORIGINAL_QUOTE_STRENGTH}`, n(e.originalRatio, 3), n(o.rps), n(o.p50, 2), n(o.p99, 2), o.errors],
          [runtime, 'bare chain', n(e.chainRatio, 3), n(c.rps), n(c.p50, 2), n(c.p99, 2), c.errors],
          [runtime, 'bare Hono', '1', n(b.rps), n(b.p50, 2), n(b.p99, 2), b.errors],
        ];
      }),
    ),
    '',
    `CPU time per request of the landscape at strength ${quoteStrength}, µs, by process (all threads; the load generator is this process):`,
    '',
    table(
      ['runtime', ...Object.keys(any.cpuPerRequestUs)],
      RUNTIMES.flatMap((runtime) => {
        const e = results.endToEnd[runtime];
        return e ? [[runtime, ...Object.values(e.cpuPerRequestUs).map((us) => n(us))]] : [];
      }),
    ),
    '',
    'The bare chain\'s front, in its own rounds: ' +
      RUNTIMES.flatMap((runtime) => {
        const e = results.endToEnd[runtime];
        return e ? [`${n(e.chainFrontCpuUs)} µs per request on ${runtime} (accountservice: ${n(e.cpuPerRequestUs.accountservice)})`] : [];
      }).join(', ') +
      '.',
  );
  return parts.join('\n');
}

function storageSection(results: Results): string {
  const rows: Array<Array<string | number>> = [];
  for (const runtime of RUNTIMES) {
    const e = results.endToEnd[runtime];
    if (e) {
      const q = e.queryaccount;
      const what = '`queryaccount` span durations in the end-to-end run (under load)';
      rows.push([runtime, what, n(q.count), n(q.medianUs), n(q.p99Us)]);
    }
    const read = results.lmdb.find((r) => r.runtime === runtime);
    if (read) {
      const what = 'AccountStore.get in a recorded span, alone (timed around the call)';
      rows.push([runtime, what, n(read.reads), n(read.traced.medianUs, 1), n(read.traced.p99Us, 1)]);
      rows.push([runtime, 'the LMDB get alone', n(read.reads), n(read.raw.medianUs, 1), n(read.raw.p99Us, 1)]);
    }
  }
  if (rows.length === 0) return '';
  return [
    '## 3. Storage span',
    '',
    'The `queryaccount` span is timed by our tracer (microsecond timestamps from `performance.now()`), so its duration ' +
      'includes the span\'s own bookkeeping between its start and end timestamps (setting the span up, the two tags ' +
      'AccountStore.get adds, finishing it). The reads alone ran on the same store after the end-to-end run (bench/servers/lmdb-read.ts), ' +
      'cycling through the 100 seeded accounts, each read timed on its own. The original\'s BoltDB read took 29 µs.',
    '',
    table(['runtime', 'what', 'reads', 'median µs', 'p99 µs'], rows),
  ].join('\n');
}

function memorySection(results: Results): string {
  const services = Object.keys(Object.values(results.endToEnd)[0]?.rss ?? {});
  if (services.length === 0) return '';
  return [
    '## 4. Memory',
    '',
    'VmRSS from /proc of each service process (with any child processes) sampled every 250 ms during the end-to-end ' +
      'rounds of section 2 (steady load). On Node the services run under tsx, as `npm start` runs them; the images ' +
      `run them on Deno. V8 at its defaults (heap sized by the machine's ${n(results.machine.memoryGiB)} GiB). "anon": RssAnon, the process's ` +
      'own memory; the rest of VmRSS is file-backed pages, mostly the runtime\'s executable, shared by every ' +
      'process of that runtime.',
    '',
    table(
      [
        'service',
        ...RUNTIMES.filter((r) => results.endToEnd[r]).flatMap((r) => [`${r} median MiB`, `${r} max MiB`, `${r} anon MiB`]),
      ],
      services.map((service) => [
        service,
        ...RUNTIMES.flatMap((runtime) => {
          const rss = results.endToEnd[runtime]?.rss[service as keyof EndToEndResult['rss']];
          return rss ? [mib(rss.median), mib(rss.max), mib(rss.anonMedian)] : [];
        }),
      ]),
    ),
  ].join('\n');
}

function exportSection(results: Results): string {
  const parts = ['## 5. Export under load', ''];
  const any = Object.values(results.endToEnd).find((e) => e.exportSteps.length > 0);
  if (any) {
    parts.push(
      `accountservice driven in steps of closed-loop connections, ${any.settings.exportStepS ?? 5} s each, on the ` +
        'landscape of section 2 (exporters at their defaults: a batch every second, at most 10 000 spans waiting per ' +
        'process, a batch sent at once when 1000 are waiting). After each step the exporters get 2.5 s to send; spans ' +
        `delivered are counted by the collector and compared with ${spansPerRequest(any.settings.quoteStrength)} per ` +
        'request answered (requests in flight when a step ends, and retried calls, add a few). ' +
        'Drops are what the exporters logged (`span export degraded`), read until one report interval after the last step.',
      '',
    );
    for (const runtime of RUNTIMES) {
      const e = results.endToEnd[runtime];
      if (!e || e.exportSteps.length === 0) continue;
      parts.push(
        `${runtime}: exporters logged ${e.exporterDropsLogged} dropped spans and ` +
          `${e.exporterFailedBatchesLogged} failed batches.`,
        '',
        table(
          ['step', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'spans expected', 'spans delivered', 'spans/s delivered'],
          e.exportSteps.map((s) => {
            const { rps, p50, p99, errors } = s.load;
            const spans = [n(s.expectedSpans), n(s.deliveredSpans), n(s.spansPerSecond)];
            return [s.label, n(rps), n(p50, 1), n(p99, 1), errors, ...spans];
          }),
        ),
        '',
      );
    }
  }
  if (results.exporter) {
    const x = results.exporter;
    parts.push(
      '### The exporter alone',
      '',
      `lib/tracing's exporter with its defaults in a process doing nothing else (bench/servers/span-source.ts), spans ` +
        `shaped like accountservice's SERVER span, ${x.stepS} s per rate, into the collector. The collector accepted ` +
        `${n(x.collectorAccepted)} spans and refused ${x.collectorRefusedPosts} POSTs.`,
      '',
      table(
        ['spans/s offered', 'made', 'sent', 'dropped', 'failed POSTs'],
        x.steps.map((s) => [n(s.madePerSecond), n(s.made), n(s.sent), n(s.dropped), s.failedBatches]),
      ),
    );
  }
  // Neither the steps nor the exporter alone ran (--only without them).
  return parts.length > 2 ? parts.join('\n') : '';
}

function containerSection(c: ContainerMemoryResult | undefined): string {
  if (!c) return '';
  return [
    '## 6. Memory in containers, as Kubernetes counts it',
    '',
    'The working set of each service\'s container — cgroup memory usage less inactive file cache, what the kubelet ' +
      'holds against the memory limit and `kubectl top` shows (charts/containers/working-set.ts) — with charts/landscape ' +
      'run on Docker as `npm run test:containers` runs it (the images, the rendered pods\' limits and V8 heap flags, Deno), ' +
      'on a node as it is after pulling the images: every file of each image is read once through the engine before the ' +
      'pods start, as a pull writes them, so their page cache (the Deno executable, shared by all four images, above all) ' +
      'is charged to the container runtime and not to whichever pod touches a page first. ' +
      `Idle: ${c.settings.idleS} s after ready and one request, median of samples every 250 ms. Under load: the median and ` +
      `the largest sample while ${c.loads.map((l) => `${l.what} (${n(l.result.rps)} req/s)`).join(', then ')} ran, ` +
      `autocannon, ${c.settings.connections} connections, ${c.settings.durationS} s each.`,
    '',
    table(
      ['service', 'request MiB', 'limit MiB', 'idle MiB', 'under load median MiB', 'under load max MiB', 'max ÷ limit', 'after the load: anonymous / file / kernel MiB'],
      Object.entries(c.services).map(([name, m]) => [
        name,
        mib(m.requestBytes),
        mib(m.limitBytes),
        mib(m.idleBytes),
        mib(m.loadMedianBytes),
        mib(m.loadMaxBytes),
        pct(m.loadMaxBytes / m.limitBytes, 0),
        `${mib(m.after.anonBytes)} / ${mib(m.after.activeFileBytes)} / ${mib(m.after.kernelBytes)}`,
      ]),
    ),
    '',
    'After the load: what the working set held when the load ended — anonymous memory (heaps, buffers, the ' +
      'runtime), active file pages (LMDB\'s memory-mapped data files among them, ' +
      'which the kernel can reclaim under pressure but the working set counts while they are active) and the kernel\'s ' +
      'own memory charged to the container (socket buffers, slab, page tables).',
  ].join('\n');
}

function callSection(calls: CallCostResult | undefined): string {
  if (!calls) return '';
  const { rounds, perRound, concurrency } = calls.settings;
  const pinned = calls.runtimes.every((c) => c.pinned);
  return [
    '## 7. A call between services',
    '',
    'What one call costs the calling process (bench/servers/call-cost.ts): a GET of a small JSON answer from a Hono ' +
      'process (bench/servers/downstream.ts, on Node), made through lib/http-transport.ts alone (the exchange, as the ' +
      'bare chain calls) and through ServiceClient as accountservice calls (opossum\'s breaker, p-retry, the ' +
      "attempt's time limit, a CLIENT span under a recorded parent and its B3 and W3C headers; spans dropped as they " +
      `finish, export is section 5's). ${concurrency} calls in flight, ${n(perRound)} a round, a warm-up round, then ` +
      `${rounds} rounds of each in turn; CPU time of the calling process (all threads) per call, median over rounds` +
      (pinned ? '; the caller pinned to one core and the called process to the other.' : '.'),
    '',
    table(
      ['runtime', 'the exchange alone, µs', 'ServiceClient, µs', 'ServiceClient − exchange, µs'],
      calls.runtimes.map((c) => [c.runtime, n(c.exchangeUs, 1), n(c.clientUs, 1), n(c.addedUs, 1)]),
    ),
    '',
    'ServiceClient − exchange: the median of the per-round differences.',
  ].join('\n');
}

function profileSection(results: Results): string {
  if (results.profiles.length === 0) return '';
  return [
    '## Profiles',
    '',
    'Main-thread CPU profiles of this run (self time by where the code lives, share of busy time).',
    '',
    ...results.profiles.flatMap(({ process: name, summary: s }) => [
      `**${name}**: ${n(s.busyMs)} ms busy, ${n(s.gcMs)} ms GC`,
      '',
      table(
        ['where', 'ms', 'share of busy'],
        s.byPlace.slice(0, 8).map((p) => [p.name, n(p.ms), pct(p.ms / s.busyMs)]),
      ),
      '',
    ]),
  ].join('\n');
}

/** The report; `findings` (the hand-written analysis kept from the previous report) goes last. */
export function renderReport(results: Results, findings: string): string {
  const m = results.machine;
  const sections = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\`${results.quick ? ' --quick (a smoke run: short rounds, not for comparison)' : ''} on ` +
      `${m.date}, in ${n(results.durationS)} s. Machine: ${m.cpu}, ${m.cores} cores, ${n(m.memoryGiB)} GiB memory, ` +
      `Linux ${m.kernel}; Node ${m.node}, Deno ${m.deno}. Code: ${m.revision}. ` +
      'The machine is shared and noisy: contenders run in turn (A B A B …) so drift lands on all of them, and ' +
      'ratios come from one run. The load generator is autocannon in the benchmark\'s own process, on the same two ' +
      'cores as everything it measures.',
    '',
    '## Results against the targets',
    '',
    summary(results),
    '',
    results.overhead ? overheadSection(results.overhead, results.tracingCost) : '',
    '',
    endToEndSection(results),
    '',
    storageSection(results),
    '',
    memorySection(results),
    '',
    exportSection(results),
    '',
    containerSection(results.containers),
    '',
    callSection(results.calls),
    '',
    profileSection(results),
    '',
    findings.trim(),
    '',
  ];
  return `${sections.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}
