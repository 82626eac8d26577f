import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { createLogger } from './log.ts';
import { KEEP_ALIVE_TIMEOUT_MS, listen, targetPath, type ListenOptions, type RunningServer } from './server.ts';
import { createMemoryExporter } from './tracing/exporter.ts';
import { traceRefusedRequest, tracingMiddleware } from './tracing/middleware.ts';
import { Tracing } from './tracing/tracer.ts';

/** Writes raw bytes without ending its side, resolves with the raw answer once `complete` says it is (within 5 s). */
function rawAnswerUntil(port: number, bytes: string, complete: (answer: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no complete answer in 5 s: ${JSON.stringify(data)}`)), 5000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (complete(data)) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.write(bytes);
  });
}

/** Writes raw bytes, resolves with the raw answer once the server closes the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.end(bytes);
  });
}

/** Writes raw bytes, resolves with the answer's status, headers (lower-cased) and body. */
async function exchange(port: number, bytes: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const [head = '', body = ''] = (await rawExchange(port, bytes)).split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** This file also runs itself under Deno (`deno test`) for the cases that hold on both runtimes. */
const onDeno = 'Deno' in globalThis;

const request = (target: string, headers: string[]) => [`GET ${target} HTTP/1.1`, ...headers, 'Connection: close', '', ''].join('\r\n');

describe('listen on Node', { skip: onDeno }, () => {
  const servers: RunningServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  async function start(sampleRate: number, options?: (tracing: Tracing) => ListenOptions) {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate });
    const server = await listen(() => new Response('served'), 0, options?.(tracing));
    servers.push(server);
    return { port: server.port, spans: exporter.spans };
  }
  const traced = (tracing: Tracing): ListenOptions => ({
    refusedHeaders: (refused) => ({ traceresponse: traceRefusedRequest(tracing, refused).traceresponse }),
  });

  it('serves what the adapter accepts through the fetch handler', async () => {
    const { port } = await start(1, traced);
    const answer = await exchange(port, request('/x', ['Host: x']));
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'served');
  });

  it('answers a refused request with a JSON 400 continuing its trace, and records its SERVER span', async () => {
    const { port, spans } = await start(1, traced);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const answer = await exchange(port, request('/health?q=1', ['Host: a b', `traceparent: 00-${traceId}-b7ad6b7169203331-01`]));
    assert.equal(answer.status, 400);
    const { error } = JSON.parse(answer.body) as { error: string };
    assert.match(error, /^Invalid (host header|URL)$/);
    assert.equal(spans.length, 1);
    const [span] = spans;
    assert.equal(answer.headers.traceresponse, `00-${traceId}-${span.id}-01`);
    assert.equal(span.traceId, traceId);
    assert.equal(span.parentId, 'b7ad6b7169203331', 'a child of the W3C caller, as any request');
    assert.equal(span.kind, 'SERVER');
    assert.equal(span.name, 'get');
    assert.deepEqual(span.tags, { 'http.method': 'GET', 'http.path': '/health', 'http.status_code': '400' });
    assert.deepEqual(span.annotations.map((a: { value: string }) => a.value), [`refused: ${error}`]);
  });

  it("keeps a caller's decision not to sample, recording nothing", async () => {
    const { port, spans } = await start(1, traced);
    const traceId = '463ac35c9f6413ad48485a3953bb6124';
    const answer = await exchange(port, request('/file/..\\x', ['Host: x', `X-B3-TraceId: ${traceId}`, 'X-B3-SpanId: a2fb4a1d1a96d312', 'X-B3-Sampled: 0']));
    assert.equal(answer.status, 400);
    assert.deepEqual(JSON.parse(answer.body), { error: 'Backslash in request path' });
    assert.equal(answer.headers.traceresponse, `00-${traceId}-a2fb4a1d1a96d312-00`);
    assert.equal(spans.length, 0);
  });

  it('starts a new trace at the service rate when the context is absent or malformed', async () => {
    const sampled = await start(1, traced);
    const kept = await exchange(sampled.port, request('/', ['Host: a b', 'traceparent: 00-zz-zz-01']));
    assert.match(kept.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(sampled.spans[0]?.traceId, kept.headers.traceresponse!.split('-')[1]);
    const unsampled = await start(0, traced);
    const dropped = await exchange(unsampled.port, request('/', ['Host: a b']));
    assert.match(dropped.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.equal(unsampled.spans.length, 0);
  });

  it('answers what the HTTP parser refuses with its status and a JSON body naming the problem', async () => {
    const { port, spans } = await start(1, traced);
    const big = await exchange(port, request('/x', ['Host: x', `X-Big: ${'a'.repeat(20 * 1024)}`]));
    assert.equal(big.status, 431);
    assert.match(big.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(big.body), { error: 'request header fields too large: the request line and headers may take 16 KiB in all' });
    const longTarget = await exchange(port, request(`/${'x'.repeat(20 * 1024)}`, ['Host: x']));
    assert.equal(longTarget.status, 431);
    const garbage = await exchange(port, 'HELLO\r\n\r\n');
    assert.equal(garbage.status, 400);
    assert.match(JSON.parse(garbage.body).error, /^malformed HTTP request \(HPE_/);
    assert.equal(Number(garbage.headers['content-length']), Buffer.byteLength(garbage.body));
    assert.equal(spans.length, 0, 'nothing of them reached the app');
  });

  it('answers a request without Host, and an Expect it cannot meet, as it answers any refused request', async () => {
    const { port, spans } = await start(1, traced);
    const noHost = await exchange(port, request('/x', []));
    assert.equal(noHost.status, 400);
    assert.deepEqual(JSON.parse(noHost.body), { error: 'Missing host header' });
    assert.match(noHost.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const expect = await exchange(port, request('/x', ['Host: x', 'Expect: something']));
    assert.equal(expect.status, 417);
    assert.deepEqual(JSON.parse(expect.body), { error: 'expectation "something" is not supported; only 100-continue is' });
    assert.match(expect.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.deepEqual(spans.map((s: { tags: Record<string, string> }) => [s.tags['http.path'], s.tags['http.status_code']]), [['/x', '400'], ['/x', '417']]);
    const served = await exchange(port, ['GET /x HTTP/1.1', 'Host: x', 'Expect: 100-continue', 'Connection: close', '', ''].join('\r\n'));
    assert.equal(served.status, 100, 'continues, then serves');
  });

  it('refuses two Host fields, and a Host that makes no URL; serves HTTP/1.0 without one', async () => {
    const { port, spans } = await start(1, traced);
    const twice = await exchange(port, request('/x', ['Host: a', 'Host: b']));
    assert.equal(twice.status, 400);
    assert.deepEqual(JSON.parse(twice.body), { error: 'more than one Host header field' });
    assert.match(twice.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    for (const host of ['foo.123', '1.2.3.999']) {
      const answer = await exchange(port, request('/x', [`Host: ${host}`]));
      assert.equal(answer.status, 400, host);
      assert.deepEqual(JSON.parse(answer.body), { error: 'Invalid URL' }, host);
    }
    const old = await exchange(port, 'GET /x HTTP/1.0\r\n\r\n');
    assert.equal(old.status, 200, 'HTTP/1.0 needs no Host');
    assert.equal(old.body, 'served');
    assert.equal(spans.length, 3);
  });

  it('records the path of an absolute-form target it refuses, never its credentials', async () => {
    const { port, spans } = await start(1, traced);
    const answer = await exchange(port, request('http://u:secret@x/p\\a?q=1', ['Host: x']));
    assert.equal(answer.status, 400);
    assert.equal(spans[0]?.tags['http.path'], '/p\\a');
  });

  it('answers a refused request without extra headers when none are asked for', async () => {
    const { port } = await start(1);
    const answer = await exchange(port, request('/', ['Host: a b']));
    assert.equal(answer.status, 400);
    assert.equal(answer.headers.traceresponse, undefined);
    assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
  });
});

const ok = () => new Response('ok');

describe('targetPath', () => {
  it('is the path of an origin-form or absolute-form target, without query, scheme or authority', () => {
    for (const [target, path] of [
      ['/a/b?c=1', '/a/b'],
      ['/a#f', '/a'],
      ['', '/'],
      ['*', '*'],
      ['http://u:secret@x:80/p?q', '/p'],
      ['HTTPS://x', '/'],
      ['ftp://x/y', '/y'],
      // CONNECT's authority-form: the authority, without credentials.
      ['x:443', 'x:443'],
      ['u:secret@x:80', 'x:80'],
    ]) assert.equal(targetPath(target!), path, target);
  });
});

describe('listen', { skip: onDeno }, () => {
  it('listens on loopback unless told otherwise', async () => {
    const server = await listen(ok, 0);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${server.port}/`)).text(), 'ok');
    } finally {
      await server.close();
    }
  });

  it('keeps idle connections longer than clients do, and says so', async () => {
    const server = await listen(ok, 0);
    const agent = new Agent({ keepAlive: true });
    try {
      const header = await new Promise<string | undefined>((resolve, reject) => {
        get({ host: '127.0.0.1', port: server.port, agent }, (response) => {
          response.resume();
          resolve(String(response.headers['keep-alive']));
        }).once('error', reject);
      });
      assert.equal(header, `timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}`);
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it('on close, sends an answer still being written to a slow client whole, and answers a request still arriving', async () => {
    const big = new Uint8Array(32 * 1024 * 1024).fill(7);
    let uploadArrived!: () => void;
    const uploading = new Promise<void>((resolve) => (uploadArrived = resolve));
    const server = await listen(async (request) => {
      if (request.method !== 'POST') return new Response(big);
      uploadArrived();
      return new Response(String((await request.arrayBuffer()).byteLength));
    }, 0);
    // A keep-alive client that reads its large answer slowly: paused after the first bytes.
    const slow = connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const firstBytes = new Promise<void>((resolve) => slow.once('data', () => resolve()));
    slow.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      slow.pause();
    });
    const slowEnded = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    slow.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    // An upload whose body has only half arrived.
    const upload = connect(server.port, '127.0.0.1');
    let uploadReply = '';
    upload.on('data', (chunk: Buffer) => (uploadReply += chunk.toString('latin1')));
    const uploadEnded = new Promise<void>((resolve) => upload.once('close', () => resolve()));
    upload.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(500)}`);
    // Both requests read by the server (one it has not read yet is the service's drain to wait for, not close's).
    await Promise.all([firstBytes, uploading]);
    const closed = server.close();
    upload.write('b'.repeat(500));
    // Read the rest at the client's pace, well after close began.
    const reader = setInterval(() => slow.resume(), 5);
    await Promise.all([closed, slowEnded, uploadEnded]);
    clearInterval(reader);
    const received = Buffer.concat(chunks);
    const headEnd = received.indexOf('\r\n\r\n');
    assert.match(received.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.equal(received.length - headEnd - 4, big.length, 'the whole answer');
    assert.match(uploadReply, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n1000$/);
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const first = await listen(ok, 0);
    try {
      await assert.rejects(listen(ok, first.port), (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE');
    } finally {
      await first.close();
    }
  });
});

describe('listen on either runtime', () => {
  it('routes a path with dot segments as its URL resolves them, as the Fetch standard and Node have it', async () => {
    const app = new Hono();
    app.get('/accounts/:id', (c) => c.json({ id: c.req.param('id'), path: c.req.path, url: c.req.url }));
    app.post('/image', async (c) => c.text(`${c.req.path} ${(await c.req.arrayBuffer()).byteLength}`));
    const server = await listen(app.fetch, 0);
    try {
      for (const target of ['/x/../accounts/1', '/accounts/./1', '/x/%2e%2E/accounts/1', '/accounts/7/%2E%2e/1?q=/./x']) {
        const answer = await exchange(server.port, request(target, ['Host: x']));
        assert.equal(answer.status, 200, target);
        const { id, path, url } = JSON.parse(answer.body) as { id: string; path: string; url: string };
        assert.deepEqual([id, path], ['1', '/accounts/1'], target);
        assert.equal(url, new URL(target, 'http://x').href, target);
      }
      const posted = await exchange(server.port, ['POST /x/../image HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Connection: close', '', 'bytes'].join('\r\n'));
      assert.deepEqual([posted.status, posted.body], [200, '/image 5']);
      assert.equal((await exchange(server.port, request('/accounts/1/..', ['Host: x']))).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('a request whose body does not arrive in time', () => {
  const upload = (bytes: number, sent: string) => `POST /upload?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${bytes}\r\n\r\n${sent}`;

  it("fails the app's read at the bound, and the app answers a JSON 408 through its own span, the only one", async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log: createLogger({ service: 'svc' }, { write: () => {} }) }));
    app.post('/upload', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
    // As runService answers an HTTPException below 500.
    app.onError((error, c) => (error instanceof HTTPException ? c.json({ error: error.message }, error.status) : c.json({ error: 'internal error' }, 500)));
    const server = await listen(app.fetch, 0, { requestTimeoutMs: 300 });
    try {
      const started = Date.now();
      const raw = await rawAnswerUntil(server.port, upload(100, 'a'.repeat(10)), (answer) => answer.endsWith('}'));
      const elapsed = Date.now() - started;
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 408 /);
      assert.match(head, /\r\ncontent-type: application\/json/i);
      assert.deepEqual(JSON.parse(body), { error: 'request body not received within 0.3 s' });
      assert.equal(exporter.spans.length, 1, 'one span for the request');
      const [span] = exporter.spans;
      assert.match(head, new RegExp(`\r\ntraceresponse: 00-${span.traceId}-${span.id}-01`, 'i'));
      assert.deepEqual([span.name, span.tags['http.path'], span.tags['http.status_code']], ['post /upload', '/upload', '408']);
      // Checked every tenth of the bound: cut between 300 and 330 ms after the request came, give or take the scheduler.
      assert.ok(elapsed >= 290 && elapsed < 1500, `answered after ${elapsed} ms`);
    } finally {
      await server.close();
    }
  });

  it('is served when it arrives whole within the bound, in parts; a GET is not bounded by how long its handler takes', async () => {
    const server = await listen(async (request) => {
      if (request.method === 'GET') await new Promise((resolve) => setTimeout(resolve, 600));
      return new Response(request.method === 'GET' ? 'slow' : String((await request.arrayBuffer()).byteLength));
    }, 0, { requestTimeoutMs: 400 });
    try {
      const socket = connect(server.port, '127.0.0.1');
      let answer = '';
      const answered = new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString('latin1');
          if (/\r\n\r\n100$/.test(answer)) resolve();
        });
        socket.once('error', reject);
      });
      socket.write(upload(100, 'a'.repeat(50)));
      // A slow client's pace: the rest within the bound.
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write('b'.repeat(50));
      await answered;
      socket.destroy();
      assert.match(answer, /^HTTP\/1\.1 200 /);
      const slow = await fetch(`http://127.0.0.1:${server.port}/slow`);
      assert.deepEqual([slow.status, await slow.text()], [200, 'slow']);
    } finally {
      await server.close();
    }
  });
  it('answers a pipelined request whose body is late through its own span, after the slow answer before it', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log: createLogger({ service: 'svc' }, { write: () => {} }) }));
    // Answered after the bound has passed for the request behind it.
    app.get('/slow', async (c) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      return c.text('slow');
    });
    app.post('/upload', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
    app.onError((error, c) => (error instanceof HTTPException ? c.json({ error: error.message }, error.status) : c.json({ error: 'internal error' }, 500)));
    const server = await listen(app.fetch, 0, { requestTimeoutMs: 300 });
    try {
      const raw = await rawAnswerUntil(server.port, `GET /slow HTTP/1.1\r\nHost: x\r\n\r\n${upload(100, 'a'.repeat(10))}`, (answer) => answer.endsWith('}'));
      const [first = '', second = ''] = raw.split(/(?=HTTP\/1\.1 )/);
      assert.match(first, /^HTTP\/1\.1 200 [^]*\r\n\r\nslow$/);
      assert.match(second, /^HTTP\/1\.1 408 /);
      assert.deepEqual(JSON.parse(second.split('\r\n\r\n')[1]!), { error: 'request body not received within 0.3 s' });
      const upload408 = exporter.spans.find((span) => span.name === 'post /upload');
      assert.equal(upload408?.tags['http.status_code'], '408');
      assert.match(second, new RegExp(`\r\ntraceresponse: 00-${upload408!.traceId}-${upload408!.id}-01`, 'i'));
    } finally {
      await server.close();
    }
  });

  it('closes the connection of a request answered without its body once the body is late, with no second answer', { skip: onDeno }, async () => {
    const server = await listen(async () => new Response('answered'), 0, { requestTimeoutMs: 300 });
    try {
      const started = Date.now();
      // The socket closes (the server ends it) well before rawAnswerUntil's own 5 s.
      const raw = await rawAnswerUntil(server.port, 'GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', () => false);
      assert.ok(Date.now() - started < 4000, `closed after ${Date.now() - started} ms`);
      assert.deepEqual(raw.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200']);
    } finally {
      await server.close();
    }
  });
});

describe('pipelined requests', () => {
  it('are answered in turn up to one the HTTP parser refuses, which is answered last', async () => {
    const server = await listen(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return new Response('served');
    }, 0);
    try {
      const pipelined = ['GET /a HTTP/1.1', 'Host: x', '', 'GET /b HTTP/1.1', 'Host: x', '', 'HELLO', '', ''].join('\r\n');
      const raw = await rawAnswerUntil(server.port, pipelined, (answer) => /HTTP\/1\.1 400[^]*\r\n\r\n(\{.*\})?$/.test(answer));
      assert.deepEqual(raw.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 400']);
      assert.equal(raw.match(/\r\n\r\nserved/g)?.length, 2);
    } finally {
      await server.close();
    }
  });
});

describe('the tracing middleware behind listen', () => {
  it('puts the traceresponse on every answer once, beside the headers the app set, errors, HEAD and fetched answers included', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const upstream = await listen(() => new Response('from upstream', { headers: { 'x-upstream': 'yes' } }), 0);
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log: createLogger({ service: 'svc' }, { write: () => {} }) }));
    app.get('/ok', (c) => c.json({ ok: true }, 200, { 'x-own': 'kept' }));
    app.get('/text', (c) => c.text('plain'));
    app.get('/throw', () => {
      throw new Error('broken');
    });
    // A Response from fetch, whose headers cannot change.
    app.get('/fetched', () => fetch(`http://127.0.0.1:${upstream.port}/`));
    app.get('/own', (c) => c.text('own', 200, { traceresponse: 'set by the app' }));
    app.get('/none', (c) => c.body(null, 204));
    app.get('/unchanged', (c) => c.body(null, 304));
    app.onError((_error, c) => c.json({ error: 'internal error' }, 500));
    const server = await listen(app.fetch, 0);
    try {
      for (const [method, path, status] of [['GET', '/ok', 200], ['HEAD', '/ok', 200], ['GET', '/text', 200], ['GET', '/throw', 500], ['GET', '/nothing', 404], ['HEAD', '/none', 204], ['HEAD', '/unchanged', 304]] as const) {
        const answer = await exchange(server.port, [`${method} ${path} HTTP/1.1`, 'Host: x', 'Connection: close', '', ''].join('\r\n'));
        assert.equal(answer.status, status, `${method} ${path}`);
        const span = exporter.spans.at(-1)!;
        assert.equal(answer.headers.traceresponse, `00-${span.traceId}-${span.id}-01`, `${method} ${path}`);
        if (path === '/ok') assert.equal(answer.headers['x-own'], 'kept');
        if (status === 204 || status === 304) assert.equal(answer.headers['content-length'], undefined, `${method} ${path}`);
      }
      // Asked with fetch: the raw exchanges end their side at once, and Node then drops an answer still to come.
      const fetched = await fetch(`http://127.0.0.1:${server.port}/fetched`);
      assert.deepEqual([fetched.status, fetched.headers.get('x-upstream'), await fetched.text()], [200, 'yes', 'from upstream']);
      const span = exporter.spans.at(-1)!;
      assert.equal(fetched.headers.get('traceresponse'), `00-${span.traceId}-${span.id}-01`, 'GET /fetched');
      // One field, not two: raw, the header appears once; one the app set itself wins.
      const raw = await rawExchange(server.port, ['GET /ok HTTP/1.1', 'Host: x', 'Connection: close', '', ''].join('\r\n'));
      assert.equal(raw.match(/^traceresponse:/gim)?.length, 1);
      const own = await rawExchange(server.port, ['GET /own HTTP/1.1', 'Host: x', 'Connection: close', '', ''].join('\r\n'));
      assert.deepEqual(own.match(/^traceresponse:.*$/gim), ['traceresponse: set by the app']);
    } finally {
      await server.close();
      await upstream.close();
    }
  });

  it("names this server's span in an answer passed through from another server, and in a Response the app answers with again", async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const log = createLogger({ service: 'svc' }, { write: () => {} });
    // Another traced server, called without this request's context: its answer names a span of a trace of its own.
    const other = new Hono();
    other.use(tracingMiddleware({ tracing: new Tracing({ serviceName: 'other', exporter: createMemoryExporter(), sampleRate: 1 }), log }));
    other.get('/', (c) => c.text('from upstream', 200, { 'x-upstream': 'yes' }));
    const upstream = await listen(other.fetch, 0);
    // A Response the app keeps and answers with every time (no body, so it can be sent again).
    const kept = new Response(null, { status: 204 });
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log }));
    app.get('/passed', () => fetch(`http://127.0.0.1:${upstream.port}/`));
    app.get('/kept', () => kept);
    const server = await listen(app.fetch, 0);
    try {
      for (const path of ['/passed', '/passed', '/kept', '/kept', '/kept']) {
        const answer = await fetch(`http://127.0.0.1:${server.port}${path}`);
        const body = await answer.text();
        if (path === '/passed') assert.deepEqual([answer.status, answer.headers.get('x-upstream'), body], [200, 'yes', 'from upstream']);
        else assert.equal(answer.status, 204);
        const span = exporter.spans.at(-1)!;
        assert.equal(answer.headers.get('traceresponse'), `00-${span.traceId}-${span.id}-01`, `GET ${path}`);
      }
    } finally {
      await server.close();
      await upstream.close();
    }
  });

  it('gives each of concurrent answers with one kept Response its own traceresponse', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const kept = new Response(null, { status: 204 });
    // Every request waits for the same moment, so the handlers all return the kept Response at once.
    let gate: Promise<void> | undefined;
    let waiting = 0;
    let open: () => void = () => {};
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log: createLogger({ service: 'svc' }, { write: () => {} }) }));
    app.get('/kept', async () => {
      gate ??= new Promise<void>((resolve) => (open = resolve));
      if (++waiting === 20) open();
      await gate;
      return kept;
    });
    const server = await listen(app.fetch, 0);
    try {
      const traceIds = Array.from({ length: 20 }, (_, i) => (i + 1).toString(16).padStart(32, 'a'));
      const answers = await Promise.all(
        traceIds.map(async (traceId) => {
          const answer = await fetch(`http://127.0.0.1:${server.port}/kept`, { headers: { traceparent: `00-${traceId}-${'b'.repeat(16)}-01` } });
          await answer.arrayBuffer();
          return answer.headers.get('traceresponse')?.split('-')[1];
        }),
      );
      assert.deepEqual(answers, traceIds);
    } finally {
      await server.close();
    }
  });

  it('answers Response.error(), and an error its onError throws, with a JSON 500 carrying the traceresponse', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const app = new Hono();
    app.use(tracingMiddleware({ tracing, log: createLogger({ service: 'svc' }, { write: () => {} }) }));
    app.get('/network-error', () => Response.error());
    app.get('/throw', () => {
      throw new Error('broken');
    });
    app.onError((error) => {
      throw error;
    });
    const server = await listen(app.fetch, 0);
    try {
      for (const path of ['/network-error', '/throw']) {
        const answer = await fetch(`http://127.0.0.1:${server.port}${path}`);
        assert.deepEqual([answer.status, await answer.json()], [500, { error: 'internal error' }], path);
        const span = exporter.spans.at(-1)!;
        assert.equal(answer.headers.get('traceresponse'), `00-${span.traceId}-${span.id}-01`, path);
        assert.deepEqual([span.tags['http.status_code'], span.tags.error], ['500', path === '/throw' ? 'broken' : '500'], path);
      }
    } finally {
      await server.close();
    }
  });

  it('refuses CONNECT after answering a request pipelined before it, recording its target as it came, without credentials', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const server = await listen(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return new Response('served');
    }, 0, { refusedHeaders: (refused) => ({ traceresponse: traceRefusedRequest(tracing, refused).traceresponse }) });
    try {
      const pipelined = ['GET /x HTTP/1.1', 'Host: x', '', 'CONNECT u:secret@x:80 HTTP/1.1', 'Host: x:80', '', ''].join('\r\n');
      const raw = await rawAnswerUntil(server.port, pipelined, (answer) => answer.includes('only a proxy opens') && answer.endsWith('}'));
      assert.deepEqual(raw.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200', 'HTTP/1.1 400']);
      assert.match(raw, /\r\n\r\nserved/);
      assert.deepEqual([exporter.spans.length, exporter.spans[0]?.tags['http.path']], [1, 'x:80']);
    } finally {
      await server.close();
    }
  });

  it('refuses CONNECT with a JSON 400 continuing its trace, and records its SERVER span', async () => {
    const exporter = createMemoryExporter();
    const tracing = new Tracing({ serviceName: 'svc', exporter, sampleRate: 1 });
    const server = await listen(() => new Response('served'), 0, {
      refusedHeaders: (refused) => ({ traceresponse: traceRefusedRequest(tracing, refused).traceresponse }),
    });
    try {
      const traceId = 'a'.repeat(32);
      const answer = await exchange(server.port, ['CONNECT x:443 HTTP/1.1', 'Host: x:443', `traceparent: 00-${traceId}-${'b'.repeat(16)}-01`, '', ''].join('\r\n'));
      assert.equal(answer.status, 400);
      assert.match(JSON.parse(answer.body).error, /^CONNECT asks for a tunnel, which only a proxy opens/);
      const span = exporter.spans.at(-1)!;
      assert.equal(answer.headers.traceresponse, `00-${traceId}-${span.id}-01`);
      assert.deepEqual([span.name, span.tags['http.status_code']], ['connect', '400']);
    } finally {
      await server.close();
    }
  });

  it('passes the same cases on Deno', { skip: onDeno }, () => {
    const deno = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
    const run = spawnSync(deno, ['test', '-A', '--no-check', fileURLToPath(import.meta.url)], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /traceresponse on every answer once.* ok/);
    assert.match(run.stdout, /passed through from another server.* ok/);
    assert.match(run.stdout, /dot segments as its URL resolves them.* ok/);
    assert.match(run.stdout, /one kept Response its own traceresponse.* ok/);
    assert.match(run.stdout, /onError throws, with a JSON 500.* ok/);
    assert.match(run.stdout, /pipelined before it.* ok/);
    assert.match(run.stdout, /answered in turn up to one the HTTP parser refuses.* ok/);
    assert.match(run.stdout, /app answers a JSON 408 through its own span.* ok/);
    assert.match(run.stdout, /arrives whole within the bound, in parts.* ok/);
    assert.match(run.stdout, /pipelined request whose body is late through its own span.* ok/);
  });
});
