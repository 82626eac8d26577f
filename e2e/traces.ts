/**
 * Reading and checking traces: waiting for one through the Zipkin API, the trace id of a
 * response, the shape of a GET /accounts/:id trace, and that no span outlives its parent.
 * Side-effect free, so that checks outside the test runner (the container check) use it too.
 */
import assert from 'node:assert/strict';
import type { Span } from '../tools/collector/span.ts';
import { sleep } from '../tools/wait.ts';

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
    if (done(spans)) {
      assertNoSpanOutlivesItsParent(spans);
      return spans;
    }
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
 * both calls and their answers, and for the VIP the message published and consumed.
 * Each process exports on its own timer, so a trace arrives in pieces, in any order:
 * wait for every piece an assertion will look at.
 */
export function isCompleteAccountTrace(spans: Span[], vip: boolean): boolean {
  const has = (predicate: (span: Span) => boolean) => spans.some(predicate);
  return (
    has((s) => service(s) === 'accountservice' && s.kind === 'SERVER') &&
    has((s) => s.name === 'queryaccount') &&
    has((s) => s.name === 'getquote') &&
    has((s) => s.name === 'getimageurl') &&
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

/**
 * Asserts that no span ends after its parent (Zipkin's model of nested work), over the spans
 * of any number of traces. Exempt, because the hand-off is asynchronous by design: CONSUMER
 * spans, which may end long after their PRODUCER. Exempt too, because their caller gave up
 * on them: a SERVER span whose CLIENT half (the same span id, B3's shared span) was aborted
 * by its deadline or attempt timeout. That server kept working until it was done, and its
 * span honestly records that work; the caller's attempt span ended when it was aborted.
 */
export function assertNoSpanOutlivesItsParent(spans: Span[]): void {
  const byId = new Map<string, Span[]>();
  for (const span of spans) byId.set(`${span.traceId}/${span.id}`, [...(byId.get(`${span.traceId}/${span.id}`) ?? []), span]);
  const end = (span: Span) => (span.timestamp ?? 0) + (span.duration ?? 0);
  const problems: string[] = [];
  for (const span of spans) {
    if (span.parentId === undefined || span.timestamp === undefined || span.duration === undefined) continue;
    if (span.kind === 'CONSUMER') continue;
    const halves = byId.get(`${span.traceId}/${span.id}`) ?? [];
    if (span.kind === 'SERVER' && halves.some((half) => half.kind === 'CLIENT' && half.tags?.['aborted'])) continue;
    // A shared span's children belong to its half in their own service.
    const parents = byId.get(`${span.traceId}/${span.parentId}`) ?? [];
    const parent = parents.find((p) => service(p) === service(span)) ?? parents[0];
    if (!parent || parent.timestamp === undefined || parent.duration === undefined) continue;
    const late = end(span) - end(parent);
    if (late > 0) {
      problems.push(`${service(span)}:${span.kind ?? 'LOCAL'}:${span.name} ends ${late} µs after its parent ${service(parent)}:${parent.name} (trace ${span.traceId})`);
    }
  }
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} spans outlive their parent`);
}
