/**
 * Trace context across the real landscape: every incoming format is continued, the
 * sampling decision and the debug flag travel to every hop (HTTP and AMQP), bad
 * context starts a fresh trace, and hundreds of concurrent requests with distinct
 * contexts each get exactly their own spans.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  assertOwnAccountTrace,
  isCompleteAccountTrace,
  PATIENT_CALLS,
  service,
  startTestLandscape,
  traceIdOf,
  waitForTrace,
  type TestLandscape,
} from './support.ts';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

type Format = 'b3-multi' | 'b3-single' | 'w3c' | 'b3+w3c';
interface Incoming {
  format: Format;
  traceId: string;
  spanId: string;
  headers: Record<string, string>;
}

function incoming(format: Format, { sampled = true, debug = false, bits = 128 } = {}): Incoming {
  const traceId = hex(bits / 8);
  const spanId = hex(8);
  const parentId = hex(8);
  const flag = debug ? 'd' : sampled ? '1' : '0';
  const traceparent = `00-${traceId.padStart(32, '0')}-${spanId}-${sampled || debug ? '01' : '00'}`;
  const multi: Record<string, string> = { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-ParentSpanId': parentId };
  if (debug) multi['X-B3-Flags'] = '1';
  else multi['X-B3-Sampled'] = sampled ? '1' : '0';
  const headers: Record<Format, Record<string, string>> = {
    'b3-multi': multi,
    'b3-single': { b3: `${traceId}-${spanId}-${flag}-${parentId}` },
    w3c: { traceparent, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' },
    'b3+w3c': { ...multi, traceparent },
  };
  return { format, traceId, spanId, headers: headers[format] };
}

describe('trace context across the landscape', () => {
  let landscape: TestLandscape;
  let accounts: string;
  const zipkin = () => landscape.collector.url;

  before(async () => {
    landscape = await startTestLandscape('node', { serviceEnv: { accountservice: PATIENT_CALLS } });
    accounts = landscape.services.accountservice.url;
  });
  after(() => landscape?.close());

  it('continues hundreds of concurrent requests, each with exactly its own spans', async () => {
    const formats: Format[] = ['b3-multi', 'b3-single', 'w3c', 'b3+w3c'];
    const requests = Array.from({ length: 300 }, (_, i) => ({
      accountId: String(10000 + (i % 10)),
      context: incoming(formats[i % formats.length]!, { bits: i % 8 === 1 ? 64 : 128 }),
    }));
    const answers = await Promise.all(
      requests.map(async ({ accountId, context }) => {
        const response = await fetch(`${accounts}/accounts/${accountId}`, { headers: context.headers });
        await response.body?.cancel();
        return { status: response.status, traceresponse: response.headers.get('traceresponse') };
      }),
    );
    for (const [i, { status, traceresponse }] of answers.entries()) {
      assert.equal(status, 200);
      assert.ok(traceresponse?.startsWith(`00-${requests[i]!.context.traceId.padStart(32, '0')}-`), 'traceresponse names the trace');
    }

    for (const { accountId, context } of requests) {
      const spans = await waitForTrace(zipkin(), context.traceId, (s) => isCompleteAccountTrace(s, accountId === '10000'));
      for (const span of spans) assert.equal(span.traceId, context.traceId);
      const server = assertOwnAccountTrace(spans, accountId);
      if (context.format === 'w3c') {
        assert.equal(server.parentId, context.spanId, 'a W3C caller gets a child span');
        assert.notEqual(server.id, context.spanId);
      } else {
        assert.equal(server.id, context.spanId, 'a B3 caller shares its span');
        assert.equal(server.shared, true);
      }
    }
  });

  it('records nothing anywhere for an unsampled trace, while the decision travels on', async () => {
    const unsampled = (['b3-multi', 'b3-single', 'w3c', 'b3+w3c'] as const).map((format) => incoming(format, { sampled: false }));
    const samplingOnly = ['0', 'X-B3-Sampled'];
    const traceIds: string[] = [];
    for (const context of unsampled) {
      const response = await fetch(`${accounts}/accounts/10000`, { headers: context.headers });
      await response.body?.cancel();
      assert.equal(response.status, 200);
      assert.match(response.headers.get('traceresponse') ?? '', /-00$/);
      traceIds.push(context.traceId);
    }
    for (const form of samplingOnly) {
      const headers: Record<string, string> = form === '0' ? { b3: '0' } : { 'X-B3-Sampled': '0' };
      const response = await fetch(`${accounts}/accounts/10000`, { headers });
      await response.body?.cancel();
      assert.match(response.headers.get('traceresponse') ?? '', /-00$/);
      traceIds.push(traceIdOf(response));
    }
    // A sampled VIP request after them: once its consumer span has arrived, anything the
    // unsampled ones had recorded (quotes, images, vipservice) would have arrived too, since each
    // service exports its spans in the order they finish, a batch per 200 ms tick.
    const barrier = await fetch(`${accounts}/accounts/10000`);
    await barrier.body?.cancel();
    await waitForTrace(zipkin(), traceIdOf(barrier), (s) => isCompleteAccountTrace(s, true));
    for (const traceId of traceIds) {
      const response = await fetch(`${zipkin()}/api/v2/trace/${traceId}`);
      await response.body?.cancel();
      assert.equal(response.status, 404, `no span of unsampled trace ${traceId}`);
    }
  });

  it('carries the debug flag to every hop, HTTP and AMQP', async () => {
    for (const format of ['b3-multi', 'b3-single'] as const) {
      const context = incoming(format, { debug: true });
      const response = await fetch(`${accounts}/accounts/10000`, { headers: context.headers });
      await response.body?.cancel();
      const spans = await waitForTrace(zipkin(), context.traceId, (s) => isCompleteAccountTrace(s, true));
      for (const span of spans) assert.equal(span.debug, true, `${service(span)}:${span.name} is debug (${format})`);
    }
  });

  it('starts a fresh trace for malformed context, never failing the request', async () => {
    const given = hex(16);
    const span = hex(8);
    const bad: Record<string, string>[] = [
      { traceparent: `00-${given.toUpperCase()}-${span}-01` },
      { traceparent: `ff-${given}-${span}-01` },
      { traceparent: `00-${'0'.repeat(32)}-${span}-01` },
      { traceparent: `00-${given}-${'0'.repeat(16)}-01` },
      { traceparent: `00-${given}-${span}-01-extra` },
      { traceparent: `00-${given}-${span}` },
      { traceparent: 'x'.repeat(5000) },
      { b3: `${given}-${span}-x` },
      { b3: `${given.slice(1)}-${span}-1` },
      { 'X-B3-TraceId': given, 'X-B3-SpanId': 'zzzzzzzzzzzzzzzz' },
      { 'X-B3-TraceId': given },
      { 'X-B3-TraceId': given, 'X-B3-SpanId': span, 'X-B3-Sampled': 'maybe' },
      { traceparent: `00-${given}-${span}-01`, tracestate: 'a'.repeat(9000) },
    ];
    for (const headers of bad) {
      const response = await fetch(`${accounts}/accounts/10001`, { headers });
      await response.body?.cancel();
      assert.equal(response.status, 200, JSON.stringify(headers).slice(0, 100));
      const traceId = traceIdOf(response);
      const expectContinued = 'tracestate' in headers; // only the tracestate is bad: the trace itself continues
      assert.equal(traceId === given, expectContinued, JSON.stringify(headers).slice(0, 100));
    }
    const health = await fetch(`${accounts}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  });
});
