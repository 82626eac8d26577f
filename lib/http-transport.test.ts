/**
 * The transport against real HTTP servers on loopback, on the runtime running the test:
 * under Node this file also runs itself under Deno (`deno test`), so both transports,
 * undici's request on Node and Deno's fetch, meet the same cases.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHttpTransport, type HttpTransport } from './http-transport.ts';
import { freePort, until } from '../tools/wait.ts';

const isDeno = 'Deno' in globalThis;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client's port: the same for calls over one kept-alive connection. */
  clientPort: number;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const json = (status: number, value: unknown): Handler => (_request, response) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(value));
};

describe(`createHttpTransport on ${isDeno ? 'Deno (fetch)' : 'Node (undici request)'}`, () => {
  let handler: Handler = json(200, { ok: true });
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body, clientPort: request.socket.remotePort! });
      handler(request, response);
    });
  });
  let base = '';
  let transport: HttpTransport;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    transport = createHttpTransport();
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

  it('passes the same cases on Deno', { skip: isDeno }, () => {
    const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
    const run = spawnSync(deno, ['test', '-A', '--no-check', fileURLToPath(import.meta.url)], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Deno \(fetch\)/);
  });
});
