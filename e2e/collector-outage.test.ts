/**
 * An unreachable or hanging Zipkin collector never fails or slows a request: the landscape
 * answers every request with no collector at all and with one that never answers, its
 * memory stays bounded, the outage is logged (rate limited), export resumes once a
 * collector is there, and a stop is not held up by a hanging collector for longer than the
 * POST timeout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import { only, service, startLoggedLandscape, traceIdOf, waitForTrace, type LoggedLandscape, type LogLine } from './support.ts';
import { freePort, sleep } from '../tools/wait.ts';

const RSS_BOUND_MIB = 300;
/** Well over any latency of a healthy local request, well under what waiting on the collector would add. */
const REQUEST_BOUND_MS = 5000;



/** Reads accounts `count` times, `concurrency` at a time; every answer's status, latency and trace id. */
async function load(url: string, count: number, concurrency: number) {
  const answers: Array<{ status: number; ms: number; traceId: string; fallback: boolean }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const started = performance.now();
        const response = await fetch(`${url}/accounts/${10001 + (i % 99)}`);
        const body = (await response.json()) as { quote?: { ipAddress?: string }; imageData?: { servedBy?: string } };
        answers.push({
          status: response.status,
          ms: performance.now() - started,
          traceId: traceIdOf(response),
          fallback: body.quote?.ipAddress === 'circuit-breaker' || body.imageData?.servedBy === 'fallback',
        });
      }
    }),
  );
  return answers;
}

function summary(answers: Array<{ ms: number }>): string {
  const sorted = answers.map((a) => a.ms).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(0);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

function rssMiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  assert.ok(kib, `VmRSS of ${pid}`);
  return Number(kib) / 1024;
}

describe('collector outage', () => {
  describe('no collector listening', () => {
    let port: number;
    let outage: LoggedLandscape;
    let collector: RunningCollector | undefined;
    let outageTraces: string[] = [];

    before(async () => {
      port = await freePort();
      outage = await startLoggedLandscape('node', `http://127.0.0.1:${port}`);
    });
    after(async () => {
      await outage?.close();
      await collector?.close();
    });

    it('answers every request', async (t) => {
      const url = outage.services.accountservice.url;
      // Warmed up first, so the latencies reported are not the first requests' compilation.
      const warmup = await load(url, 40, 20);
      assert.deepEqual(warmup.filter((a) => a.status !== 200), []);
      const answers = await load(url, 300, 20);
      outageTraces = answers.map((a) => a.traceId);
      t.diagnostic(`300 requests with no collector: ${summary(answers)}`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), []);
      assert.deepEqual(answers.filter((a) => a.fallback), [], 'no fallbacks: downstream calls are unaffected');
      assert.ok(answers.every((a) => a.ms < REQUEST_BOUND_MS), summary(answers));
    });

    it('logs the failed export as a warning, at most once per 10 s per service', async (t) => {
      // The first report comes 10 s after a service started.
      const degraded = () => outage.logs.filter((l) => l.json?.msg === 'span export degraded');
      const deadline = Date.now() + 15_000;
      while (!degraded().some((l) => l.service === 'accountservice') && Date.now() < deadline) await sleep(200);
      const lines = degraded();
      const counts = (l: LogLine) =>
        JSON.stringify({ droppedSpans: l.json?.droppedSpans, failedBatches: l.json?.failedBatches });
      t.diagnostic(lines.map((l) => `${l.service}: ${counts(l)}`).join('; '));
      const accounts = lines.filter((l) => l.service === 'accountservice');
      assert.ok(accounts.length >= 1, 'accountservice reported the outage');
      assert.equal(accounts[0]!.json?.level, 'warn');
      assert.ok(Number(accounts[0]!.json?.failedBatches) > 0, 'failed batches counted');
      for (const name of ['accountservice', 'quotes-service', 'imageservice', 'vipservice'] as const) {
        const times = lines.filter((l) => l.service === name).map((l) => Date.parse(String(l.json?.time)));
        for (let i = 1; i < times.length; i++) {
          assert.ok(times[i]! - times[i - 1]! >= 9_500, `${name} reported twice within 10 s`);
        }
      }
    });

    it('exports again once a collector is there', async (t) => {
      collector = await startCollector({ port });
      const response = await fetch(`${outage.services.accountservice.url}/accounts/10001`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const spans = await waitForTrace(collector.url, traceIdOf(response), (s) => s.length >= 7);
      assert.equal(spans.length, 7);
      only(spans, (s) => service(s) === 'accountservice' && s.kind === 'SERVER', 'accountservice SERVER span');
      const late = outageTraces.filter((id) => collector!.store.getTrace(id).length > 0).length;
      t.diagnostic(`traces of the outage that reached the collector afterwards: ${late} of ${outageTraces.length}`);
    });
  });

  describe('a collector that accepts connections and never answers', () => {
    let outage: LoggedLandscape;
    const sockets = new Set<Socket>();
    let peakOpen = 0;
    let received = 0;
    const hanging = createServer((socket) => {
      sockets.add(socket);
      peakOpen = Math.max(peakOpen, sockets.size);
      socket.on('data', (chunk) => (received += chunk.length)); // read every POST, answer none
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    });

    before(async () => {
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
      const { port } = hanging.address() as AddressInfo;
      outage = await startLoggedLandscape('node', `http://127.0.0.1:${port}`);
    });
    after(async () => {
      await outage?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hanging.close(resolve));
    });

    it('answers every request, with memory bounded', async (t) => {
      const accounts = outage.services.accountservice;
      const warmup = await load(accounts.url, 40, 20);
      assert.deepEqual(warmup.filter((a) => a.status !== 200), []);
      const before = rssMiB(accounts.process.pid);
      const answers = await load(accounts.url, 200, 20);
      // Long enough for POSTs to pile up against the hanging collector and the first ones to time out.
      await sleep(6000);
      const rss = rssMiB(accounts.process.pid);
      t.diagnostic(
        `200 requests: ${summary(answers)}; accountservice RSS ${before.toFixed(0)} → ${rss.toFixed(0)} MiB; ` +
          `hanging collector: ${(received / 1024).toFixed(0)} KiB received, at most ${peakOpen} connections open at once`,
      );
      assert.deepEqual(answers.filter((a) => a.status !== 200), []);
      assert.deepEqual(answers.filter((a) => a.fallback), [], 'no fallbacks: downstream calls are unaffected');
      assert.ok(answers.every((a) => a.ms < REQUEST_BOUND_MS), summary(answers));
      assert.ok(received > 0, 'spans were posted to the hanging collector');
      assert.ok(rss < RSS_BOUND_MIB, `accountservice RSS ${rss.toFixed(0)} MiB < ${RSS_BOUND_MIB} MiB`);
    });

    it('stops on SIGTERM within the shutdown timeout, giving up its last flush after the POST timeout', async (t) => {
      const accounts = outage.services.accountservice;
      // Fresh spans, so the flush on stop has a POST to wait for.
      const answers = await load(accounts.url, 5, 5);
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
      const started = performance.now();
      const code = await accounts.stop();
      const ms = performance.now() - started;
      t.diagnostic(`accountservice exited with ${code} ${ms.toFixed(0)} ms after SIGTERM`);
      assert.equal(code, 0);
      assert.ok(ms < 10_000, `stopped in ${ms.toFixed(0)} ms`);
    });
  });
});
