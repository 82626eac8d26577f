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
import {
  assertOwnAccountTrace,
  isCompleteAccountTrace,
  only,
  service,
  startLoggedLandscape,
  traceIdOf,
  waitForTrace,
  type LoggedLandscape,
  type LogLine,
} from './support.ts';
import { freePort, until } from '../tools/wait.ts';

const RSS_BOUND_MIB = 300;
/** The exporter's defaults: spans held while the collector cannot take them, and the time allowed for a POST. */
const BUFFERED_SPANS = 10_000;
const POST_TIMEOUT_MS = 5000;
/** Well over any latency of a healthy local request, well under what waiting on the collector would add. */
const REQUEST_BOUND_MS = 5000;



/** Reads accounts `count` times, `concurrency` at a time; every answer's status, latency and trace id. */
async function load(url: string, count: number, concurrency: number) {
  const answers: Array<{ status: number; ms: number; traceId: string; accountId: string; fallback: boolean }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const accountId = String(10001 + (next++ % 99));
        const started = performance.now();
        const response = await fetch(`${url}/accounts/${accountId}`);
        const body = (await response.json()) as { quote?: { ipAddress?: string }; imageData?: { servedBy?: string } };
        answers.push({
          status: response.status,
          ms: performance.now() - started,
          traceId: traceIdOf(response),
          accountId,
          fallback: body.quote?.ipAddress === 'circuit-breaker' || body.imageData?.servedBy === 'fallback',
        });
      }
    }),
  );
  return answers;
}

/** GETs `url` `count` times, `concurrency` at a time; the statuses. */
async function flood(url: string, count: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent++ < count) {
        const response = await fetch(url);
        await response.body?.cancel();
        statuses.push(response.status);
      }
    }),
  );
  return statuses;
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
    let outageTraces: Array<{ traceId: string; accountId: string }> = [];

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
      outageTraces = answers;
      t.diagnostic(`300 requests with no collector: ${summary(answers)}`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), []);
      assert.deepEqual(answers.filter((a) => a.fallback), [], 'no fallbacks: downstream calls are unaffected');
      assert.ok(answers.every((a) => a.ms < REQUEST_BOUND_MS), summary(answers));
    });

    it('logs the failed export as a warning, at most once per 10 s per service', async (t) => {
      // A report every 10 s at most, while POSTs keep failing (retried at least every 10 s): two
      // reports of accountservice take 20 s to 30 s from its start.
      const degraded = () => outage.logs.filter((l) => l.json?.msg === 'span export degraded');
      await until(() => degraded().filter((l) => l.service === 'accountservice').length >= 2, 45_000, 'two reports of accountservice');
      const lines = degraded();
      const counts = (l: LogLine) =>
        JSON.stringify({ droppedSpans: l.json?.droppedSpans, failedBatches: l.json?.failedBatches });
      t.diagnostic(lines.map((l) => `${l.service}: ${counts(l)}`).join('; '));
      const accounts = lines.filter((l) => l.service === 'accountservice');
      assert.equal(accounts[0]!.json?.level, 'warn');
      assert.ok(Number(accounts[0]!.json?.failedBatches) > 0, 'failed batches counted');
      assert.match(String(accounts[0]!.json?.lastError), /ECONNREFUSED/, 'the reason named');
      let compared = 0;
      for (const name of ['accountservice', 'quotes-service', 'imageservice', 'vipservice'] as const) {
        const times = lines.filter((l) => l.service === name).map((l) => Date.parse(String(l.json?.time)));
        for (let i = 1; i < times.length; i++, compared++) {
          assert.ok(times[i]! - times[i - 1]! >= 9_500, `${name} reported twice within 10 s`);
        }
      }
      assert.ok(compared >= 1, 'at least one pair of reports compared');
    });

    it('exports again once a collector is there, the outage\'s spans included', async () => {
      collector = await startCollector({ port });
      const response = await fetch(`${outage.services.accountservice.url}/accounts/10001`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const spans = await waitForTrace(collector.url, traceIdOf(response), (s) => s.length >= 7, 30_000);
      assert.equal(spans.length, 7);
      only(spans, (s) => service(s) === 'accountservice' && s.kind === 'SERVER', 'accountservice SERVER span');
      // Fewer spans than the buffer holds were made during the outage: every one of them arrives, in every service.
      for (const { traceId, accountId } of outageTraces) {
        assertOwnAccountTrace(await waitForTrace(collector.url, traceId, (s) => isCompleteAccountTrace(s, false), 30_000), accountId);
      }
    });
  });

  describe('a collector that accepts connections and never answers', () => {
    let outage: LoggedLandscape;
    /** Every POST the collector was sent: when it began, and its bytes so far. */
    const posts: Array<{ at: number; text: string }> = [];
    const sockets = new Set<Socket>();
    let peakOpen = 0;
    const hanging = createServer((socket) => {
      sockets.add(socket);
      peakOpen = Math.max(peakOpen, sockets.size);
      let post: { at: number; text: string } | undefined;
      // Read every POST, answer none. A POST that timed out closes its connection: each has its own.
      socket.on('data', (chunk) => {
        if (!post) posts.push((post = { at: performance.now(), text: '' }));
        post.text += chunk.toString('latin1');
      });
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    });
    const postsOf = (name: string) => posts.filter((p) => p.text.includes(`"serviceName":"${name}"`));

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

    it('answers every request, with memory bounded once the span buffer is full', async (t) => {
      const accounts = outage.services.accountservice;
      const warmup = await load(accounts.url, 40, 20);
      assert.deepEqual(warmup.filter((a) => a.status !== 200), []);
      const before = rssMiB(accounts.process.pid);
      const answers = await load(accounts.url, 200, 20);
      assert.deepEqual(answers.filter((a) => a.status !== 200), []);
      assert.deepEqual(answers.filter((a) => a.fallback), [], 'no fallbacks: downstream calls are unaffected');
      assert.ok(answers.every((a) => a.ms < REQUEST_BOUND_MS), summary(answers));

      // More spans than the buffer holds: the cheapest request that makes one, a bad account id (400).
      const started = performance.now();
      const refused = await flood(`${accounts.url}/accounts/not-an-id`, BUFFERED_SPANS + 500, 50);
      const seconds = (performance.now() - started) / 1000;
      assert.deepEqual(refused.filter((status) => status !== 400), []);
      // The report after the buffer filled: spans dropped, the buffer at its cap and no further.
      const full = () =>
        outage.logs.find((l) => l.service === 'accountservice' && l.json?.msg === 'span export degraded' && Number(l.json.droppedSpans) > 0);
      await until(() => full() !== undefined, 15_000, 'accountservice to report dropped spans');
      assert.ok(Number(full()!.json!.queued) <= BUFFERED_SPANS, `queued ${full()!.json!.queued} ≤ ${BUFFERED_SPANS}`);
      const rss = rssMiB(accounts.process.pid);
      t.diagnostic(
        `200 requests: ${summary(answers)}; ${refused.length} more in ${seconds.toFixed(1)} s; ` +
          `accountservice RSS ${before.toFixed(0)} → ${rss.toFixed(0)} MiB, ${full()!.json!.droppedSpans} spans dropped; ` +
          `hanging collector: ${posts.length} POSTs, at most ${peakOpen} connections open at once`,
      );
      assert.ok(postsOf('accountservice').length > 0, 'spans were posted to the hanging collector');
      assert.ok(rss < RSS_BOUND_MIB, `accountservice RSS ${rss.toFixed(0)} MiB < ${RSS_BOUND_MIB} MiB`);
    });

    it('stops on SIGTERM within the shutdown timeout, its last flush posting what it held and giving up after the POST timeout', async (t) => {
      const { accountservice, imageservice } = outage.services;
      // Fresh spans in imageservice, whose buffer is not full: the last flush must carry them.
      const fresh: string[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${imageservice.url}/accounts/${10001 + i}`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
        fresh.push(traceIdOf(response));
      }
      const answered = performance.now();
      const stops = [accountservice, imageservice].map(async (running) => {
        const signalled = performance.now();
        const code = await running.stop();
        return { name: running.name, code, signalled, exited: performance.now() };
      });
      for (const { name, code, signalled, exited } of await Promise.all(stops)) {
        // The last flush posts all it holds at once: its first POST reaches the collector once all have started.
        const flushed = postsOf(name).find((p) => p.at > signalled);
        assert.ok(flushed, `${name} posted what it held after the signal`);
        const waited = exited - flushed.at;
        t.diagnostic(`${name} exited with ${code} ${(exited - signalled).toFixed(0)} ms after SIGTERM, ${waited.toFixed(0)} ms after its last flush began`);
        assert.equal(code, 0, `${name} stopped within the shutdown timeout`);
        // It waited for its POSTs (timers never fire early) and not much longer.
        assert.ok(waited >= POST_TIMEOUT_MS - 250, `${name} gave up its last flush after ${waited.toFixed(0)} ms`);
        assert.ok(waited < POST_TIMEOUT_MS + 2000, `${name} exited ${waited.toFixed(0)} ms after its last flush began`);
      }
      const carried = postsOf('imageservice').filter((p) => p.at > answered);
      assert.deepEqual(fresh.filter((id) => !carried.some((p) => p.text.includes(id))), [], 'every fresh span posted before the exit');
    });
  });
});
