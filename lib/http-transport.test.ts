/**
 * The transport against real HTTP servers on loopback, on the runtime running the test:
 * under Node the cases run on undici's request and on Node's fetch (the path Deno takes),
 * and this file also runs itself under Deno (`deno test`), so Deno's own fetch meets them too.
 */
import assert from 'node:assert/strict';
import process from 'node:process';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHttpTransport, isTimeout, type HttpTransport } from './http-transport.ts';
import { freePort, until } from '../tools/wait.ts';

const isDeno = 'Deno' in globalThis;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client's port: the same for calls over one kept-alive connection. */
  clientPort: number;
  /** Whether the connection the request came over has closed. */
  closed: () => boolean;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const json = (status: number, value: unknown): Handler => (_request, response) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(value));
};

const variants = isDeno
  ? [{ name: 'Deno (fetch)', options: {}, undici: false }]
  : [
      { name: 'Node (undici request)', options: {}, undici: true },
      { name: 'Node (fetch: true, the path Deno takes)', options: { fetch: true }, undici: false },
    ];

describe('isTimeout', () => {
  it('is true of the TimeoutError an exchange past its time limit rejects with, as AbortSignal.timeout aborts with, only', () => {
    assert.equal(isTimeout(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), true);
    assert.equal(isTimeout(new DOMException('aborted', 'AbortError')), false);
    assert.equal(isTimeout(Object.assign(new Error('headers timeout'), { name: 'TimeoutError' })), false, 'not a DOMException');
    assert.equal(isTimeout(new Error('connect ECONNREFUSED')), false);
    assert.equal(isTimeout(undefined), false);
  });
});

for (const variant of variants) {
  describe(`createHttpTransport on ${variant.name}`, () => {
    let handler: Handler = json(200, { ok: true });
    const seen: Seen[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const socket = request.socket;
        seen.push({ method: request.method!, url: request.url!, headers: request.headers, body, clientPort: socket.remotePort!, closed: () => socket.destroyed });
        handler(request, response);
      });
    });
    let base = '';
    let transport: HttpTransport;
    before(async () => {
      server.keepAliveTimeout = 30_000; // its hint, Keep-Alive: timeout=30, outlasts every test
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      transport = createHttpTransport(variant.options);
    });
    after(async () => {
      await transport.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    /**
     * Calls one after the other went over kept-alive connections: one, or two where undici's pool sees
     * the next call before the last one's connection is marked free and opens a second.
     */
    const assertReused = () => {
      const connections = new Set(seen.map((s) => s.clientPort)).size;
      assert.ok(connections <= 2, `${seen.length} calls over ${connections} connections`);
    };
    const reset = (next: Handler) => {
      handler = next;
      seen.length = 0;
    };

    it('sends method, headers and body, and reads the JSON answer', async () => {
      reset((request, response) => json(201, { echoed: seen.at(-1)!.body, type: request.headers['content-type'] })(request, response));
      const headers = { accept: 'application/json', 'content-type': 'application/json', 'x-b3-traceid': 'a'.repeat(32) };
      const response = await transport.send({ method: 'POST', url: `${base}/things?x=1`, headers, body: '{"n":1}' });
      assert.equal(response.status, 201);
      assert.deepEqual(await response.json(), { echoed: '{"n":1}', type: 'application/json' });
      assert.equal(seen[0]?.method, 'POST');
      assert.equal(seen[0]?.url, '/things?x=1');
      assert.equal(seen[0]?.headers['x-b3-traceid'], 'a'.repeat(32));
    });

    it('sends a body of bytes as they are, and reads a text answer and its header fields', async () => {
      reset((_request, response) => {
        response.setHeader('retry-after', '7');
        response.setHeader('set-cookie', ['a=1', 'b=2']);
        response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        response.end(`got ${seen.at(-1)!.body}`);
      });
      const body = new TextEncoder().encode('[{"name":"é ✓"}]');
      const response = await transport.send({ method: 'POST', url: `${base}/spans`, headers: { 'content-type': 'application/json' }, body });
      assert.equal(response.status, 503);
      assert.equal(response.ok, false);
      assert.equal(response.header('retry-after'), '7');
      assert.equal(response.header('set-cookie'), 'a=1, b=2');
      assert.equal(response.header('x-absent'), undefined);
      assert.equal(await response.text(), 'got [{"name":"é ✓"}]');
      assert.equal(seen[0]?.headers['content-length'], String(body.byteLength));
    });

    it('keeps the connection alive between calls', async () => {
      reset(json(200, { ok: true }));
      for (let i = 0; i < 10; i++) {
        const response = await transport.send({ method: 'GET', url: `${base}/x`, headers: {} });
        assert.deepEqual(await response.json(), { ok: true });
      }
      assertReused();
    });

    it('returns the connection to the pool when an error answer is discarded', async () => {
      let calls = 0;
      reset((request, response) => (calls++ % 2 === 0 ? json(503, { error: 'x'.repeat(96 * 1024) }) : json(200, { ok: true }))(request, response));
      // Bounded: a body left unread past the pool's buffer would hold its connection, and the calls would wait.
      const signal = AbortSignal.timeout(5000);
      for (let i = 0; i < 5; i++) {
        const failed = await transport.send({ method: 'GET', url: `${base}/x`, headers: {}, signal });
        assert.equal(failed.status, 503);
        await failed.discard();
        const ok = await transport.send({ method: 'GET', url: `${base}/x`, headers: {}, signal });
        assert.equal(ok.status, 200);
        await ok.json();
      }
      assertReused();
    });

    it('rejects with the signal’s reason when aborted before the answer, and promptly', async () => {
      reset(() => {}); // never answers
      const abort = new AbortController();
      const reason = new Error('caller gave up');
      const sent = transport.send({ method: 'GET', url: `${base}/hang`, headers: {}, signal: abort.signal });
      await until(() => seen.length === 1, 5000, 'the request at the server');
      const started = performance.now();
      abort.abort(reason);
      await assert.rejects(sent, (error) => error === reason);
      assert.ok(performance.now() - started < 1000, 'rejected at once');
    });

    it('rejects with a TimeoutError when AbortSignal.timeout fires', async () => {
      reset(() => {});
      const started = performance.now();
      const sent = transport.send({ method: 'GET', url: `${base}/hang`, headers: {}, signal: AbortSignal.timeout(50) });
      await assert.rejects(sent, (error: unknown) => error instanceof DOMException && error.name === 'TimeoutError');
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 45 && elapsed < 2000, `timed out after ${elapsed.toFixed(0)} ms`);
    });

    it('rejects with a TimeoutError when timeoutMs passes before the answer', async () => {
      reset(() => {});
      const started = performance.now();
      const sent = transport.send({ method: 'GET', url: `${base}/hang`, headers: {}, timeoutMs: 50 });
      await assert.rejects(sent, (error: unknown) => isTimeout(error));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 45 && elapsed < 2000, `timed out after ${elapsed.toFixed(0)} ms`);
    });

    it('rejects reading a body that timeoutMs cuts off', async () => {
      reset((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"partial":'); // and nothing more
      });
      const response = await transport.send({ method: 'GET', url: `${base}/slow-body`, headers: {}, timeoutMs: 100 });
      assert.equal(response.status, 200);
      await assert.rejects(response.json(), (error: unknown) => isTimeout(error));
    });

    it('stops its time limit once the body is read or discarded, or the exchange fails', async () => {
      const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
      const before = timers();
      reset(json(200, { ok: true }));
      const read = await transport.send({ method: 'GET', url: `${base}/x`, headers: {}, timeoutMs: 60_000 });
      assert.equal(timers(), before + 1, 'running while the body is unread');
      await read.json();
      reset(json(503, { error: 'x' }));
      await (await transport.send({ method: 'GET', url: `${base}/x`, headers: {}, timeoutMs: 60_000 })).discard();
      reset(json(200, { ok: true }));
      await (await transport.send({ method: 'GET', url: `${base}/x`, headers: {}, timeoutMs: 60_000 })).text();
      const refused = `http://127.0.0.1:${await freePort()}/x`;
      await assert.rejects(transport.send({ method: 'GET', url: refused, headers: {}, timeoutMs: 60_000 }));
      await until(() => timers() === before, 5000, 'no time limit left running');
    });

    it('with both timeoutMs and a signal, rejects as whichever comes first', async () => {
      reset(() => {});
      const abort = new AbortController();
      const reason = new Error('caller gave up');
      const sent = transport.send({ method: 'GET', url: `${base}/hang`, headers: {}, signal: abort.signal, timeoutMs: 60_000 });
      await until(() => seen.length === 1, 5000, 'the request at the server');
      abort.abort(reason);
      await assert.rejects(sent, (error) => error === reason);
      const timedOut = transport.send({ method: 'GET', url: `${base}/hang`, headers: {}, signal: new AbortController().signal, timeoutMs: 50 });
      await assert.rejects(timedOut, (error: unknown) => isTimeout(error));
    });

    it('rejects reading a body that the signal cuts off', async () => {
      reset((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"partial":'); // and nothing more
      });
      const abort = new AbortController();
      const response = await transport.send({ method: 'GET', url: `${base}/slow-body`, headers: {}, signal: abort.signal });
      assert.equal(response.status, 200);
      const reading = response.json();
      const reason = new Error('deadline');
      abort.abort(reason);
      await assert.rejects(reading, (error) => error === reason);
    });

    it('sends nothing when the signal is already aborted', async () => {
      reset(json(200, { ok: true }));
      const reason = new Error('too late');
      await assert.rejects(transport.send({ method: 'GET', url: `${base}/x`, headers: {}, signal: AbortSignal.abort(reason) }), (e) => e === reason);
      assert.equal(seen.length, 0);
    });

    it('rejects with an Error when nothing listens', async () => {
      const url = `http://127.0.0.1:${await freePort()}/x`;
      await assert.rejects(transport.send({ method: 'GET', url, headers: {} }), Error);
    });

    it('rejects reading a body that is not JSON', async () => {
      reset((_request, response) => response.end('not json'));
      const response = await transport.send({ method: 'GET', url: `${base}/x`, headers: {} });
      await assert.rejects(response.json(), SyntaxError);
    });

    it('says ok for a 2xx status only, and discards a body that is none (204)', async () => {
      for (const [status, ok] of [[200, true], [204, true], [299, true], [300, false], [404, false]] as const) {
        reset(json(status, {}));
        const response = await transport.send({ method: 'GET', url: `${base}/status`, headers: {} });
        await response.discard();
        assert.equal(response.ok, ok, `status ${status}`);
      }
    });

    it('discards an endless body: reads at most 128 KiB of it, then gives the connection up', async () => {
      let written = 0;
      reset((_request, response) => {
        response.writeHead(500, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(16 * 1024, 'x');
        const more = () => {
          while (!response.destroyed && response.write(chunk)) written += chunk.length;
        };
        response.on('drain', more);
        more();
      });
      const response = await transport.send({ method: 'GET', url: `${base}/endless`, headers: {}, signal: AbortSignal.timeout(5000) });
      await response.discard();
      const socketClosed = seen[0]!.closed;
      await until(() => socketClosed(), 5000, 'the connection given up');
      assert.ok(written < 64 * 1024 * 1024, `${written} bytes written before the connection went`);
    });

    it('closes its idle connections on close()', { skip: !variant.undici && 'fetch keeps no pool of ours' }, async () => {
      const own = createHttpTransport(variant.options);
      reset(json(200, { ok: true }));
      await (await own.send({ method: 'GET', url: `${base}/x`, headers: {} })).json();
      const closed = seen[0]!.closed;
      assert.equal(closed(), false, 'kept alive');
      await own.close();
      await until(closed, 2000, 'the connection closed');
    });

    it('keeps an idle connection keepAliveMs at most, though the server would keep it longer', { skip: !variant.undici && 'fetch keeps no pool of ours' }, async () => {
      const own = createHttpTransport({ ...variant.options, keepAliveMs: 100 });
      try {
        reset(json(200, { ok: true }));
        await (await own.send({ method: 'GET', url: `${base}/x`, headers: {} })).json();
        // The server's hint (Keep-Alive: timeout=30) would have undici keep it 28 s.
        await until(seen[0]!.closed, 2000, 'the idle connection closed by the client');
      } finally {
        await own.close();
      }
    });

    it('opens at most `connections` connections to an origin: calls beyond wait for one', { skip: !variant.undici && 'fetch manages its own pool' }, async () => {
      const own = createHttpTransport({ ...variant.options, connections: 1 });
      try {
        const held: ServerResponse[] = [];
        reset((_request, response) => held.push(response));
        const calls = [0, 1].map(() => own.send({ method: 'GET', url: `${base}/held`, headers: {} }));
        await until(() => held.length === 1, 5000, 'the first call at the server');
        json(200, { n: 1 })(undefined as never, held[0]!);
        await until(() => held.length === 2, 5000, 'the second call, over the same connection');
        json(200, { n: 2 })(undefined as never, held[1]!);
        for (const call of calls) await (await call).json();
        assert.equal(seen[0]!.clientPort, seen[1]!.clientPort, 'one connection');
      } finally {
        await own.close();
      }
    });

    it('passes the same cases on Deno', { skip: !variant.undici }, () => {
      const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
      const run = spawnSync(deno, ['test', '-A', '--no-check', fileURLToPath(import.meta.url)], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /Deno \(fetch\)/);
    });
  });
}
