/**
 * Graceful stop on SIGTERM, for real processes on Node and Deno: accountservice publishes
 * its VIP outbox and exports its spans before it exits; quotes-service answers the
 * requests already sent to it, reports DOWN while stopping, exits with 0 and then refuses
 * connections; a stop that runs out of time still exports the spans of what finished.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCollector } from '../tools/collector/index.ts';
import { startService, type RunningService } from '../tools/landscape.ts';
import { makeJpeg } from '../services/imageservice/test-jpegs.ts';
import { AMQP_URL, PATIENT_CALLS, service, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';
import { freePort, sleep } from '../tools/wait.ts';

const STOP_BOUND_MS = 10_000;
/** Requests sent before the signal: one long first, then the rest while it runs. */
const SLOW_REQUESTS = 6;
const FIRST_STRENGTH = 1000;
const SLOW_STRENGTH = 400;


/** Resolves with the exit code, and how long after `since` the process exited. */
function exitOf(running: RunningService, since: () => number): Promise<{ code: number | null; ms: number }> {
  const { process: child } = running;
  if (child.exitCode !== null) return Promise.resolve({ code: child.exitCode, ms: 0 });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, ms: performance.now() - since() })));
}

async function untilUp(running: RunningService): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const response = await fetch(`${running.url}/health`);
    await response.body?.cancel();
    if (response.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${running.name} not UP within 15 s`);
    await sleep(100);
  }
}

type Outcome = { status: number; body: string } | { error: string };

/** A GET and its outcome; `sent` resolves once the whole request has been handed to the connection. */
function send(port: number, path: string, agent: Agent | false): { outcome: Promise<Outcome>; sent: Promise<unknown> } {
  let req!: ReturnType<typeof request>;
  const outcome = new Promise<Outcome>((resolve) => {
    req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.setTimeout(STOP_BOUND_MS, () => req.destroy(new Error('no answer')));
    req.end();
  });
  return { outcome, sent: new Promise((resolve) => req.once('finish', resolve).once('error', resolve)) };
}

const get = (port: number, path: string, agent: Agent | false) => send(port, path, agent).outcome;

const label = (outcome: Outcome) => ('error' in outcome ? outcome.error : String(outcome.status));

/** Runs of equal labels, e.g. `200×2 → 503×1 → ECONNREFUSED×4`. */
function runs(labels: string[]): string {
  const out: Array<[string, number]> = [];
  for (const l of labels) {
    const last = out.at(-1);
    if (last && last[0] === l) last[1]++;
    else out.push([l, 1]);
  }
  return out.map(([l, n]) => `${l}×${n}`).join(' → ') || 'none';
}

for (const runtime of ['node', 'deno'] as const) {
  describe(`graceful stop on ${runtime}`, () => {
    let landscape: TestLandscape;

    before(async () => {
      landscape = await startTestLandscape(runtime);
      // Listening comes before the broker connection: wait for UP, so the outbox can publish at all.
      for (const name of ['accountservice', 'vipservice'] as const) await untilUp(landscape.services[name]);
    });
    after(() => landscape?.close());

    it('accountservice publishes its VIP outbox and exports its spans before it exits', async (t) => {
      const accounts = landscape.services.accountservice;
      const reads = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const response = await fetch(`${accounts.url}/accounts/10000`);
          assert.equal(response.status, 200);
          await response.body?.cancel();
          return traceIdOf(response);
        }),
      );
      // Straight after the answers: notifications may still be in the outbox, spans in the export buffer.
      let signalled = 0;
      const exited = exitOf(accounts, () => signalled);
      signalled = performance.now();
      accounts.process.kill('SIGTERM');
      const { code, ms } = await exited;
      t.diagnostic(`accountservice exited with ${code} ${ms.toFixed(0)} ms after SIGTERM`);
      assert.equal(code, 0);
      assert.ok(ms < STOP_BOUND_MS, `stopped within ${STOP_BOUND_MS} ms`);

      const notified = (traceId: string) =>
        landscape.logs.some(
          (l) => l.service === 'vipservice' && l.json?.msg === 'VIP notification received' && l.json.traceId === traceId,
        );
      const deadline = Date.now() + 10_000;
      while (!reads.every(notified) && Date.now() < deadline) await sleep(100);
      assert.deepEqual(reads.filter((id) => !notified(id)), [], 'vipservice logged a notification for every read');

      for (const traceId of reads) {
        // Only the process that exited could have sent these: nothing else records accountservice spans.
        const spans = await waitForTrace(
          landscape.collector.url,
          traceId,
          (s) => s.some((x) => service(x) === 'accountservice' && x.kind === 'SERVER') && s.some((x) => x.kind === 'PRODUCER'),
          10_000,
        );
        const producer = spans.find((s) => s.kind === 'PRODUCER')!;
        const server = spans.find((s) => service(s) === 'accountservice' && s.kind === 'SERVER')!;
        assert.ok(producer.timestamp! + producer.duration! <= server.timestamp! + server.duration!, 'the producer span ended within its request');
      }
    });

    describe('quotes-service with requests in flight', () => {
      let results: Outcome[];
      let health: Outcome[];
      let afterExit: Outcome;
      let exit: { code: number | null; ms: number };

      before(async () => {
        const quotes = landscape.services['quotes-service'];
        // Connections opened and warmed first, so every slow request goes on a connection the server has accepted.
        const agent = new Agent({ keepAlive: true, maxSockets: SLOW_REQUESTS });
        const warm = await Promise.all(Array.from({ length: SLOW_REQUESTS }, () => get(quotes.port, '/api/quote', agent)));
        assert.deepEqual(warm.map(label), Array(SLOW_REQUESTS).fill('200'));

        // The quotes burn CPU one at a time. The signal comes once all are sent, the first (longest)
        // ahead of the rest, which wait behind it unread: the moment a stop must not lose them.
        const first = send(quotes.port, `/api/quote?strength=${FIRST_STRENGTH}`, agent);
        await first.sent;
        const rest = Array.from({ length: SLOW_REQUESTS - 1 }, () => send(quotes.port, `/api/quote?strength=${SLOW_STRENGTH}`, agent));
        await Promise.all(rest.map((r) => r.sent));
        const slow = [first, ...rest].map((r) => r.outcome);
        let signalled = 0;
        const exited = exitOf(quotes, () => signalled);
        signalled = performance.now();
        quotes.process.kill('SIGTERM');

        // /health on fresh connections until the process is gone: UP (not yet seen the signal), DOWN, refused.
        health = [];
        let gone = false;
        void exited.then(() => (gone = true));
        while (!gone) {
          health.push(await get(quotes.port, '/health', false));
          await sleep(20); // the polling pace; the stop holds /health DOWN for at least 200 ms of it
        }
        results = await Promise.all(slow);
        exit = await exited;
        afterExit = await get(quotes.port, '/health', false);
        agent.destroy();
      });

      it(`exits with code 0 within ${STOP_BOUND_MS / 1000} s`, (t) => {
        t.diagnostic(`quotes-service exited with ${exit.code} ${exit.ms.toFixed(0)} ms after SIGTERM`);
        assert.equal(exit.code, 0);
        assert.ok(exit.ms < STOP_BOUND_MS);
      });

      it(
        'answers every request sent before the signal',
        (t) => {
          const lost = results.filter((r) => !('status' in r) || r.status !== 200);
          t.diagnostic(`${SLOW_REQUESTS} requests sent before SIGTERM: ${runs(results.map(label))}; lost ${lost.length}`);
          assert.equal(lost.length, 0, 'requests lost');
        },
      );

      it('reports DOWN while stopping, never UP again, then refuses connections', (t) => {
        const labels = health.map(label);
        t.diagnostic(`/health from SIGTERM to exit: ${runs(labels)}; after exit: ${label(afterExit)}`);
        // UP until the signal is handled, then DOWN (it keeps serving until requests stop for 200 ms), then gone.
        assert.ok(labels.includes('503'), 'DOWN reported while stopping');
        const firstDown = labels.indexOf('503');
        assert.deepEqual(labels.slice(0, firstDown).filter((l) => l !== '200'), [], 'UP before DOWN');
        assert.ok(!labels.slice(firstDown).includes('200'), 'no UP once stopping');
        for (const outcome of health) {
          if ('status' in outcome) {
            assert.ok([200, 503].includes(outcome.status), `status ${outcome.status}`);
            if (outcome.status === 503) assert.match(outcome.body, /"status":"DOWN".*shutting down/);
          } else {
            assert.ok(['ECONNREFUSED', 'ECONNRESET', 'socket hang up'].includes(outcome.error), outcome.error);
          }
        }
        assert.deepEqual(afterExit, { error: 'ECONNREFUSED' });
      });
    });
  });
}

for (const runtime of ['node', 'deno'] as const) {
  describe(`a stop with requests still in flight, on ${runtime}`, () => {
    /**
     * imageservice exporting to a collector of its own, its spans held a minute (only a stop sends them),
     * with one request answered (`traceId`) and a connection open for an upload; `close` ends all of it.
     */
    async function imageserviceWithAnswer(shutdownTimeoutMs: number, lines: string[] = []) {
      const collector = await startCollector({ port: 0 });
      const env = { PORT: '0', ZIPKIN_URL: collector.url, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), ZIPKIN_EXPORT_INTERVAL_MS: '60000' };
      const images = await startService('imageservice', env, { runtime, onLog: (_name, line) => lines.push(line) });
      const upload = connect(images.port, images.host);
      const close = async () => {
        upload.destroy();
        await images.stop();
        await collector.close();
      };
      const answered = await fetch(`${images.url}/accounts/7`).catch(async (error: unknown) => {
        await close();
        throw error;
      });
      assert.equal(answered.status, 200);
      await answered.body?.cancel();
      return { collector, images, upload, traceId: traceIdOf(answered), close };
    }

    it('exits with 1 after SHUTDOWN_TIMEOUT_MS, having exported the spans of the requests that finished', async (t) => {
      const lines: string[] = [];
      const { collector, images, upload, traceId, close } = await imageserviceWithAnswer(2000, lines);
      try {
        // An upload whose body never comes: its request can only end with the process.
        upload.write(`POST /image HTTP/1.1\r\nHost: ${images.host}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8`);
        let signalled = 0;
        const exited = exitOf(images, () => signalled);
        signalled = performance.now();
        images.process.kill('SIGTERM');
        const { code, ms } = await exited;
        t.diagnostic(`exited with ${code} ${ms.toFixed(0)} ms after SIGTERM`);
        assert.equal(code, 1);
        assert.ok(lines.some((line) => line.includes('"msg":"stop timed out; exiting"')), 'the timeout logged');
        assert.ok(ms < STOP_BOUND_MS, `exited within ${STOP_BOUND_MS} ms`);
        const spans = await waitForTrace(collector.url, traceId, (found) => found.length > 0, 5000);
        assert.deepEqual(spans.map((span) => `${span.kind} ${span.name}`), ['SERVER get /accounts/:accountid']);
      } finally {
        await close();
      }
    });

    it('answers an upload whose body is still arriving when the stop begins', async (t) => {
      const { collector, images, upload, traceId, close } = await imageserviceWithAnswer(4000);
      try {
        const jpeg = makeJpeg(16, 16);
        const half = Math.floor(jpeg.length / 2);
        let reply = '';
        upload.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
        const replied = new Promise((resolve) => upload.once('close', resolve));
        upload.write(`POST /image HTTP/1.1\r\nHost: ${images.host}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
        upload.write(jpeg.subarray(0, half));
        let signalled = 0;
        const exited = exitOf(images, () => signalled);
        signalled = performance.now();
        images.process.kill('SIGTERM');
        // Once the early flush has sent the finished request's span, the stop has long begun closing.
        await waitForTrace(collector.url, traceId, (found) => found.length > 0, 5000);
        // Meanwhile no new work is taken: Node's listener is closed, Deno's (whose shutdown waits for the upload) answers 503.
        const late = await fetch(`${images.url}/accounts/7`).then(
          async (response) => `${response.status} ${((await response.json()) as { error: string }).error}`,
          () => 'refused',
        );
        assert.equal(late, runtime === 'deno' ? '503 shutting down: try again' : 'refused');
        t.diagnostic(`the rest of the body sent ${(performance.now() - signalled).toFixed(0)} ms after SIGTERM`);
        upload.write(jpeg.subarray(half));
        await replied;
        assert.match(reply, /^HTTP\/1\.1 200 /, `the upload answered: ${JSON.stringify(reply.slice(0, 200))}`);
        const { code } = await exited;
        assert.equal(code, 0);
      } finally {
        await close();
      }
    });

    it('sends those spans before the timeout is up, and still lets a request ending before it finish, exiting with 0', async (t) => {
      const collector = await startCollector({ port: 0 });
      // quotes-service stands still until told: accountservice's request waits on it through the stop.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const quotes = createServer((_request, response) => {
        void released.then(() => response.writeHead(200, { 'content-type': 'application/json' }).end('{"quote":"q","ipAddress":"x","language":"en"}'));
      });
      await new Promise<void>((resolve) => quotes.listen(0, '127.0.0.1', resolve));
      const dataDir = mkdtempSync(join(tmpdir(), 'stop-'));
      const env = {
        PORT: '0',
        AMQP_URL,
        DATA_DIR: dataDir,
        ZIPKIN_URL: collector.url,
        QUOTES_SERVICE_URL: `http://127.0.0.1:${(quotes.address() as AddressInfo).port}`,
        IMAGE_SERVICE_URL: `http://127.0.0.1:${await freePort()}`,
        RETRY_ATTEMPTS: '1',
        ...PATIENT_CALLS,
        SHUTDOWN_TIMEOUT_MS: '4000',
        // Spans wait for a full minute's batch: only the stop can send them.
        ZIPKIN_EXPORT_INTERVAL_MS: '60000',
      };
      const accounts = await startService('accountservice', env, { runtime });
      try {
        const answered = await fetch(`${accounts.url}/accounts/99999`);
        await answered.body?.cancel();
        assert.equal(answered.status, 404);
        const traceId = traceIdOf(answered);
        const waiting = fetch(`${accounts.url}/accounts/10001`);
        let signalled = 0;
        const exited = exitOf(accounts, () => signalled);
        signalled = performance.now();
        accounts.process.kill('SIGTERM');
        // The finished request's span can only come from the stop's early flush: once it has come, the stop
        // is in its last quarter. The waiting request then ends, before the timeout.
        await waitForTrace(collector.url, traceId, (found) => found.length > 0, 5000);
        t.diagnostic(`the early flush came ${(performance.now() - signalled).toFixed(0)} ms after SIGTERM`);
        release();
        const response = await waiting;
        assert.equal(response.status, 200);
        await response.body?.cancel();
        const { code, ms } = await exited;
        t.diagnostic(`exited with ${code} ${ms.toFixed(0)} ms after SIGTERM`);
        assert.equal(code, 0);
      } finally {
        release();
        await accounts.stop();
        await new Promise((resolve) => quotes.close(resolve));
        await collector.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
