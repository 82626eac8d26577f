/**
 * What the end-to-end tests share: a real RabbitMQ (started when installed but
 * stopped), the local Zipkin-API collector, LMDB in a temporary directory, and the
 * four services as real processes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import { startLandscape, type Landscape, type LandscapeOptions, type Runtime, type ServiceName } from '../tools/landscape.ts';
import { deleteQueue, ensureRabbitMQ } from '../tools/rabbitmq.ts';
import type { Span } from '../tools/collector/span.ts';
import { sleep } from '../tools/wait.ts';

export type { Span };

export const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';

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
  /** Stops the services, removes the queue and the data directory. */
  close(): Promise<void>;
}

export interface TestLandscape extends LoggedLandscape {
  collector: RunningCollector;
}

type TestOptions = Partial<Omit<LandscapeOptions, 'runtime' | 'zipkinUrl' | 'dataDir' | 'onLog'>>;

/** The four services exporting to `zipkinUrl` (whatever is, or is not, there), their log lines kept. */
export async function startLoggedLandscape(runtime: Runtime, zipkinUrl: string, options: TestOptions = {}): Promise<LoggedLandscape> {
  await ensureRabbitMQ(AMQP_URL, { log: () => {} });
  const dataDir = mkdtempSync(join(tmpdir(), 'landscape-e2e-'));
  const vipQueue = `vip_queue.test-${randomUUID().slice(0, 8)}`;
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
      amqpUrl: AMQP_URL,
      dataDir,
      onLog,
      ...options,
      env: { ZIPKIN_EXPORT_INTERVAL_MS: '200', VIP_QUEUE: vipQueue, ...options.env },
    });
    return {
      ...landscape,
      vipQueue,
      logs,
      dataDir,
      async close() {
        await landscape.stop();
        await deleteQueue(AMQP_URL, vipQueue);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    for (const { line } of logs.slice(-20)) console.error(line);
    throw error;
  }
}

/** The landscape exporting to a local collector of its own. */
export async function startTestLandscape(runtime: Runtime, options: TestOptions = {}): Promise<TestLandscape> {
  const collector = await startCollector({ port: 0 });
  try {
    const landscape = await startLoggedLandscape(runtime, collector.url, options);
    return {
      ...landscape,
      collector,
      async close() {
        await landscape.close();
        await collector.close();
      },
    };
  } catch (error) {
    await collector.close();
    throw error;
  }
}

/** Reads a trace through the Zipkin API until `done` holds for it, or fails after `timeoutMs`. */
export async function waitForTrace(
  zipkinUrl: string,
  traceId: string,
  done: (spans: Span[]) => boolean,
  timeoutMs = 15_000,
): Promise<Span[]> {
  const deadline = Date.now() + timeoutMs;
  let spans: Span[] = [];
  while (Date.now() < deadline) {
    const response = await fetch(`${zipkinUrl}/api/v2/trace/${traceId}`);
    spans = response.ok ? ((await response.json()) as Span[]) : (await response.body?.cancel(), []);
    if (done(spans)) return spans;
    await sleep(100);
  }
  const summary = spans.map((s) => `${s.localEndpoint?.serviceName}/${s.kind ?? 'LOCAL'}/${s.name}`).join(', ');
  throw new Error(`trace ${traceId} incomplete after ${timeoutMs} ms; has: ${summary || 'nothing'}`);
}

/** The trace id in a `traceresponse` header (W3C Trace Context Level 2). */
export function traceIdOf(response: Response): string {
  const header = response.headers.get('traceresponse') ?? '';
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-3]$/.exec(header);
  if (!match) throw new Error(`no valid traceresponse header: ${JSON.stringify(header)}`);
  return match[1]!;
}

export const service = (span: Span) => span.localEndpoint?.serviceName;

/** The one span matching, failing with the trace's contents when there is not exactly one. */
export function only(spans: Span[], predicate: (span: Span) => boolean, what: string): Span {
  const found = spans.filter(predicate);
  if (found.length !== 1) {
    throw new Error(`expected one ${what}, found ${found.length} in: ${spans.map((s) => `${service(s)}:${s.name}`).join(', ')}`);
  }
  return found[0]!;
}

/**
 * Whether a GET /accounts/:id trace has arrived whole: the server span, the LMDB read,
 * both calls answered by their services, and for the VIP the message consumed.
 */
export function isCompleteAccountTrace(spans: Span[], vip: boolean): boolean {
  const has = (predicate: (span: Span) => boolean) => spans.some(predicate);
  return (
    has((s) => service(s) === 'accountservice' && s.kind === 'SERVER') &&
    has((s) => s.name === 'queryaccount') &&
    has((s) => service(s) === 'quotes-service' && s.kind === 'SERVER') &&
    has((s) => s.name === 'burn-cpu') &&
    has((s) => service(s) === 'imageservice' && s.kind === 'SERVER') &&
    (!vip || (has((s) => s.kind === 'PRODUCER') && has((s) => s.kind === 'CONSUMER')))
  );
}

/**
 * Asserts that a GET /accounts/:id trace holds exactly this request's spans: nothing of
 * another request (every span names this account where it can, and hangs off this
 * trace's server span), nothing missing, and extra spans only as numbered retry attempts.
 * `path`: the request's path (the edge's public one is /api/accounts/:id). Returns the server span.
 */
export function assertOwnAccountTrace(spans: Span[], accountId: string, path = `/accounts/${accountId}`): Span {
  const vip = accountId === '10000';
  const what = `trace of account ${accountId}`;
  const server = only(spans, (s) => service(s) === 'accountservice' && s.kind === 'SERVER', `server span in ${what}`);
  assert.equal(server.tags?.['http.path'], path, what);
  const query = only(spans, (s) => s.name === 'queryaccount', `queryaccount in ${what}`);
  assert.equal(query.tags?.['account.id'], accountId, what);
  assert.equal(query.parentId, server.id);

  let expected = 2;
  for (const [name, remote] of [['getquote', 'quotes-service'], ['getimageurl', 'imageservice']] as const) {
    const attempts = spans.filter((s) => s.name === name);
    assert.ok(attempts.length >= 1 && attempts.length <= 3, `${what}: 1 to 3 ${name} attempts, not ${attempts.length}`);
    assert.deepEqual(
      attempts.map((s) => s.tags?.['retry.attempt'] ?? '1').sort(),
      attempts.map((_, i) => String(i + 1)),
      `${what}: ${name} attempts are numbered, so any extra is a retry`,
    );
    for (const attempt of attempts) assert.equal(attempt.parentId, server.id);
    const answered = spans.filter((s) => service(s) === remote && s.kind === 'SERVER');
    for (const remoteServer of answered) {
      assert.ok(attempts.some((a) => a.id === remoteServer.id), `${what}: every ${remote} span answers one of its calls`);
      if (remote === 'imageservice') assert.equal(remoteServer.tags?.['http.path'], `/accounts/${accountId}`, what);
    }
    expected += attempts.length + answered.length;
  }
  const quotesIds = new Set(spans.filter((s) => service(s) === 'quotes-service' && s.kind === 'SERVER').map((s) => s.id));
  const work = spans.filter((s) => s.name === 'burn-cpu');
  for (const span of work) assert.ok(quotesIds.has(span.parentId ?? ''), `${what}: burn-cpu under a quotes-service span`);
  expected += work.length;

  if (vip) {
    const producer = only(spans, (s) => s.kind === 'PRODUCER', `producer in ${what}`);
    assert.equal(producer.parentId, server.id);
    assert.equal(only(spans, (s) => s.kind === 'CONSUMER', `consumer in ${what}`).parentId, producer.id);
    expected += 2;
  }
  assert.equal(spans.length, expected, `${what} holds exactly its own spans`);
  const ids = new Set(spans.map((s) => s.id));
  for (const span of spans) if (span.parentId && span !== server) assert.ok(ids.has(span.parentId), `${what}: ${span.name}'s parent is in the trace`);
  return server;
}
