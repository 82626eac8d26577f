/**
 * The tracing work of one request of the overhead benchmark's handler, without HTTP:
 * a SERVER span from the incoming headers, a local child span, a CLIENT span injected
 * into outgoing headers, one await in between (as the call would), tags, finish.
 * `node --import tsx bench/servers/tracing-cost.ts ours|otel` prints JSON: CPU µs per
 * request by variant (the process's, all threads: what other processes on the cores do not
 * change), one figure per round (ROUNDS, PER_ROUND requests each; ONLY=<variant> for one).
 * Spans are encoded but not sent. One tracer per process: OTel's AsyncLocalStorage context
 * slows every await in the process it is enabled in.
 */
import process from 'node:process';
import { createLogger, type Logger } from '../../lib/log.ts';
import { encodeBatch } from '../../lib/tracing/exporter.ts';
import type { SpanLogger, ZipkinSpan } from '../../lib/tracing/model.ts';
import { extract } from '../../lib/tracing/propagation.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { findAccount } from './common.ts';

const tracer = process.argv[2] ?? 'ours';
const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const PER_ROUND = Number(process.env['PER_ROUND'] ?? 20_000);

type Request = () => Promise<unknown>;
const incoming = new Headers({ host: '127.0.0.1', accept: '*/*' });
const tick = () => Promise.resolve();

function untraced(): Request {
  return async () => {
    const account = findAccount('10001');
    const headers: Record<string, string> = { accept: 'application/json' };
    await tick();
    return [account, headers];
  };
}

interface OursOptions {
  /** The middleware's per-request logger (built whether or not anything is logged). */
  requestLogger?: boolean;
  b3?: 'multi' | 'single';
}

function ours(tracing: Tracing, log: Logger, { requestLogger = true, b3 = 'multi' }: OursOptions = {}): Request {
  return async () => {
    const extracted = extract((name) => incoming.get(name));
    const span = tracing.continueSpan('get', extracted, { kind: 'SERVER', continuation: 'join' });
    const requestLog = requestLogger ? log.child({ traceId: span.traceId, spanId: span.spanId }) : log;
    const traceresponse = span.traceresponse;
    const account = span.trace('queryaccount', (child) => {
      child.tag('account.id', '10001');
      return findAccount('10001');
    });
    const client = span.child('getquote', { kind: 'CLIENT', remoteService: 'downstream' });
    client.tag('http.method', 'GET');
    client.tag('http.path', '/api/quote');
    const headers: Record<string, string> = { accept: 'application/json' };
    client.inject((key, value) => (headers[key] = value), { b3 });
    await tick();
    client.tag('http.status_code', 200);
    client.finish();
    span.setName('get /accounts/:accountId');
    span.tag('http.method', 'GET');
    span.tag('http.path', '/accounts/10001');
    span.tag('http.route', '/accounts/:accountId');
    span.tag('http.status_code', 200);
    span.finish();
    return [account, headers, requestLog, traceresponse];
  };
}

async function oursVariants(): Promise<Record<string, Request>> {
  const log = createLogger({ service: 'cost' }, { write: () => {} });
  const serviceName = 'bench-ours';
  const ipv4 = '10.0.0.1';
  // What the exporter does: keep each finished span, encode a batch of 1000 at once (lib/tracing/exporter.ts);
  // the POST itself is left out, as OTel's is below.
  const batch: ZipkinSpan[] = [];
  const encoded = {
    logSpan(span: ZipkinSpan) {
      if (batch.push(span) < 1000) return;
      encodeBatch(batch);
      batch.length = 0;
    },
  };
  const nowhere = { logSpan: () => {} };
  const tracing = (exporter: SpanLogger, sampleRate = 1) => new Tracing({ serviceName, exporter, ipv4, sampleRate });
  return {
    untraced: untraced(),
    'ours: recorded and encoded': ours(tracing(encoded), log),
    'ours: recorded, not encoded': ours(tracing(nowhere), log),
    'ours at 0 % sampling': ours(tracing(encoded, 0), log),
    'ours: no per-request logger': ours(tracing(encoded), log, { requestLogger: false }),
    'ours: b3 single header': ours(tracing(encoded), log, { b3: 'single' }),
  };
}

/** Where the Zipkin exporter hands a converted batch to HTTP: replaced to encode and stop there. */
type ZipkinSend = (spans: unknown[], done: (result: { code: number }) => void) => void;

async function otelVariants(): Promise<Record<string, Request>> {
  const { context, propagation, SpanKind, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const resource = resourceFromAttributes({ 'service.name': 'bench-otel' });
  // The real exporter converting each batch to Zipkin spans and encoding it; only the POST is left out.
  const exporter = new ZipkinExporter({ url: 'http://127.0.0.1:9411/api/v2/spans' });
  (exporter as unknown as { _send: ZipkinSend })._send = (spans, done) => {
    JSON.stringify(spans);
    done({ code: 0 });
  };
  const processor = new BatchSpanProcessor({ exporter });
  const exported = new TracerProvider({ resource, spanProcessors: [processor] }).getTracer('bench');
  const unexported = new TracerProvider({ resource }).getTracer('bench');
  const getter = {
    keys: () => [...incoming.keys()],
    get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
  };
  const serverAttributes = {
    'http.request.method': 'GET',
    'url.full': 'http://127.0.0.1/accounts/10001',
    'http.route': '/accounts/:accountId',
  };
  const clientOptions = { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET' } };
  // What @hono/otel does per request, without Hono: extract, an active SERVER span, attributes, end.
  const request = (tracer: ReturnType<typeof trace.getTracer>): Request => async () => {
    const parent = propagation.extract(context.active(), incoming, getter);
    const serverOptions = { kind: SpanKind.SERVER, attributes: serverAttributes };
    return tracer.startActiveSpan('GET /accounts/:accountId', serverOptions, parent, async (span) => {
      const account = tracer.startActiveSpan('queryaccount', (child) => {
        child.setAttribute('account.id', '10001');
        const found = findAccount('10001');
        child.end();
        return found;
      });
      const headers = await tracer.startActiveSpan('GET', clientOptions, async (client) => {
        const out: Record<string, string> = { accept: 'application/json' };
        propagation.inject(context.active(), out);
        await tick();
        client.setAttribute('http.response.status_code', 200);
        client.end();
        return out;
      });
      span.setAttribute('http.response.status_code', 200);
      span.updateName('GET /accounts/:accountId');
      span.end();
      return [account, headers];
    });
  };
  return {
    untraced: untraced(),
    'otel: batched and encoded': request(exported),
    'otel: no span processor': request(unexported),
  };
}

const all = tracer === 'otel' ? await otelVariants() : await oursVariants();
// ONLY=<variant>: that one alone, e.g. for instruction counts under callgrind (run with two PER_ROUND values, subtract).
const only = process.env['ONLY'];
const variants = only === undefined ? all : { [only]: all[only]! };
const results: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
// Timers (batch flushes) get their turn now and then, as between requests.
const yieldToTimers = () => new Promise((resolve) => setImmediate(resolve));
const runMany = async (run: Request) => {
  for (let i = 0; i < PER_ROUND; i++) {
    await run();
    if (i % 100 === 99) await yieldToTimers();
  }
};
// Warm-up, then rounds in turn, so drift lands on every variant alike.
for (const run of Object.values(variants)) await runMany(run);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(variants)) {
    const started = process.cpuUsage();
    await runMany(run);
    const used = process.cpuUsage(started);
    results[name]!.push((used.user + used.system) / PER_ROUND);
  }
}
console.log(JSON.stringify(results));
process.exit(0);
