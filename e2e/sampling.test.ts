/**
 * Sampling below 100 %, across the real landscape: every service decides by the trace id, so
 * for the same trace they all decide the same, whether each decides on its own (a caller that
 * defers the decision) or the edge decides and the others follow. A trace is recorded whole
 * or not at all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isCompleteAccountTrace, service, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';

const SAMPLE_RATE = 0.5;
const TRACES = 40;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** The rule every service applies: the trace id's low 52 bits below the rate's share of their range. */
const sampledByRule = (traceId: string) => parseInt(traceId.slice(-13), 16) < SAMPLE_RATE * 2 ** 52;
const flagsOf = (response: Response) => response.headers.get('traceresponse')?.slice(-2);

describe(`sampling at ${SAMPLE_RATE * 100} %`, () => {
  let landscape: TestLandscape;
  const zipkin = () => landscape.collector.url;

  before(async () => {
    landscape = await startTestLandscape('node', { env: { TRACING_SAMPLE_RATE: String(SAMPLE_RATE) } });
  });
  after(() => landscape?.close());

  /**
   * Waits for a trace that passes every service, sampled by its caller. Each service exports its
   * spans in the order they finish, a batch per 200 ms tick (against a POST of a few ms), so once
   * these are stored, any span finished before them in any service is stored too.
   */
  async function barrier(): Promise<void> {
    const traceId = hex(16);
    const headers = { 'X-B3-TraceId': traceId, 'X-B3-SpanId': hex(8), 'X-B3-Sampled': '1' };
    const response = await fetch(`${landscape.services.accountservice.url}/accounts/10000`, { headers });
    await response.body?.cancel();
    await waitForTrace(zipkin(), traceId, (s) => isCompleteAccountTrace(s, true));
  }

  const recorded = async (traceId: string) => {
    const response = await fetch(`${zipkin()}/api/v2/trace/${traceId}`);
    return response.ok ? ((await response.json()) as Parameters<typeof service>[0][]) : (await response.body?.cancel(), []);
  };

  it('every service decides the same for a trace whose caller left the decision to it', async () => {
    const { accountservice, imageservice } = landscape.services;
    const quotes = landscape.services['quotes-service'];
    const decisions: Array<{ traceId: string; flags: Array<string | undefined> }> = [];
    for (let i = 0; i < TRACES; i++) {
      const traceId = hex(16);
      // B3 without a sampled flag: the caller defers the decision to each service it calls.
      const headers = () => ({ 'X-B3-TraceId': traceId, 'X-B3-SpanId': hex(8) });
      const answers = await Promise.all([
        fetch(`${quotes.url}/api/quote`, { headers: headers() }),
        fetch(`${imageservice.url}/accounts/10001`, { headers: headers() }),
        fetch(`${accountservice.url}/accounts/10001`, { headers: headers() }),
      ]);
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        await answer.body?.cancel();
      }
      decisions.push({ traceId, flags: answers.map(flagsOf) });
    }
    for (const { traceId, flags } of decisions) {
      const expected = sampledByRule(traceId) ? '01' : '00';
      assert.deepEqual(flags, [expected, expected, expected], `quotes-service, imageservice, accountservice on trace ${traceId}`);
    }
    const sampled = decisions.filter((d) => d.flags[0] === '01');
    assert.ok(sampled.length > 0 && sampled.length < TRACES, `both decisions occur: ${sampled.length} of ${TRACES} sampled`);

    // What was decided is what was recorded: the sampled traces in full, the others not at all.
    for (const { traceId } of sampled) {
      const spans = await waitForTrace(zipkin(), traceId, (s) => isCompleteAccountTrace(s, false) && s.filter((x) => x.kind === 'SERVER').length === 5);
      assert.deepEqual(
        [...new Set(spans.filter((s) => s.kind === 'SERVER').map(service))].sort(),
        ['accountservice', 'imageservice', 'quotes-service'],
      );
    }
    await barrier();
    for (const { traceId } of decisions.filter((d) => d.flags[0] === '00')) {
      assert.deepEqual(await recorded(traceId), [], `nothing recorded for unsampled trace ${traceId}`);
    }
  });

  it('records a trace started at the edge whole or not at all, as its trace id decides', async () => {
    const accounts = landscape.services.accountservice.url;
    const traces: Array<{ traceId: string; sampled: boolean; vip: boolean }> = [];
    for (let i = 0; i < TRACES; i++) {
      const vip = i % 4 === 0;
      const response = await fetch(`${accounts}/accounts/${vip ? '10000' : '10001'}`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const traceId = traceIdOf(response);
      const sampled = flagsOf(response) === '01';
      assert.equal(sampled, sampledByRule(traceId), `the edge's decision on trace ${traceId} is its trace id's`);
      traces.push({ traceId, sampled, vip });
    }
    assert.ok(traces.some((t) => t.sampled) && traces.some((t) => !t.sampled), 'both decisions occur');
    for (const { traceId, vip } of traces.filter((t) => t.sampled)) {
      await waitForTrace(zipkin(), traceId, (s) => isCompleteAccountTrace(s, vip));
    }
    await barrier();
    for (const { traceId } of traces.filter((t) => !t.sampled)) {
      assert.deepEqual(await recorded(traceId), [], `nothing recorded anywhere for unsampled trace ${traceId}`);
    }
  });
});
