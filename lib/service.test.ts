import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryExporter } from './tracing/exporter.ts';
import { createLogger, type LogLevel } from './log.ts';
import { createServiceApp, type ServiceParts } from './service.ts';
import { Tracing } from './tracing/tracer.ts';

function setup(parts: Partial<ServiceParts> = {}, testability = false, level: LogLevel = 'info') {
  const lines: any[] = [];
  const exporter = createMemoryExporter();
  const spans = exporter.spans;
  const tracing = new Tracing({ serviceName: 'svc', exporter });
  const log = createLogger({ service: 'svc' }, { level, write: (line) => lines.push(JSON.parse(line)) });
  const { app, state } = createServiceApp({ tracing, log, parts: { routes: () => {}, ...parts }, testability });
  return { app, state, spans, lines };
}

describe('a service app', () => {
  it('opens a SERVER span per request named for the route, with HTTP tags', async () => {
    const { app, spans, lines } = setup({
      routes: (app) =>
        app.get('/items/:id', (c) => {
          c.var.log.info('handling');
          return c.json({ id: c.req.param('id') });
        }),
    });
    const response = await app.request('/items/7');
    assert.equal(response.status, 200);
    const span = spans[0]!;
    assert.equal(span.name, 'get /items/:id');
    assert.equal(span.kind, 'SERVER');
    assert.deepEqual(span.tags, {
      'http.method': 'GET',
      'http.path': '/items/7',
      'http.route': '/items/:id',
      'http.status_code': '200',
    });
    assert.equal(response.headers.get('traceresponse'), `00-${span.traceId}-${span.id}-01`);
    const line = lines.find((l) => l.msg === 'handling');
    assert.equal(line?.traceId, span.traceId);
    assert.equal(line?.spanId, span.id);
  });

  it('hands the SERVER span to the handler, which opens its children on it', async () => {
    const { app, spans } = setup({
      routes: (app) => app.get('/work', (c) => c.json(c.var.span.trace('step', () => ({ done: true })))),
    });
    assert.deepEqual(await (await app.request('/work')).json(), { done: true });
    const [step, server] = spans;
    assert.equal(step.name, 'step');
    assert.equal(step.parentId, server.id);
    assert.equal(server.kind, 'SERVER');
  });

  it('continues an incoming B3 context', async () => {
    const { app, spans } = setup({ routes: (app) => app.get('/x', (c) => c.text('ok')) });
    await app.request('/x', {
      headers: { 'X-B3-TraceId': '463ac35c9f6413ad48485a3953bb6124', 'X-B3-SpanId': 'a2fb4a1d1a96d312', 'X-B3-Sampled': '1' },
    });
    assert.equal(spans[0].traceId, '463ac35c9f6413ad48485a3953bb6124');
    assert.equal(spans[0].id, 'a2fb4a1d1a96d312');
    assert.equal(spans[0].shared, true);
  });

  it('answers a throw with a JSON 500 without a stack, and tags the span error', async () => {
    const { app, spans, lines } = setup({
      routes: (app) =>
        app.get('/boom', () => {
          throw new Error('kaput');
        }),
    });
    const response = await app.request('/boom');
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: 'internal error' });
    assert.equal(spans[0].tags.error, 'kaput');
    assert.equal(spans[0].tags['http.status_code'], '500');
    assert.ok(response.headers.get('traceresponse'));
    const logged = lines.filter((l) => l.level === 'error');
    assert.equal(logged.length, 1, 'one line: the access line');
    assert.deepEqual(
      [logged[0].msg, logged[0].status, logged[0].route, logged[0].traceId, logged[0].spanId],
      ['request', 500, '/boom', spans[0].traceId, spans[0].id],
    );
    assert.deepEqual(logged[0].error, { name: 'Error', message: 'kaput' }, 'name and message, no stack');
  });

  it('writes one access line per request with its route, status, duration and trace ids; 4xx at info with the reason', async () => {
    const { app, spans, lines } = setup({
      routes: (app) => {
        app.get('/items/:id', (c) => (c.req.param('id') === '0' ? c.json({ error: 'no item 0' }, 404) : c.json({})));
        app.get('/down', (c) => c.json({ error: 'the database is away' }, 503));
      },
    });
    await app.request('/items/7');
    await app.request('/items/0');
    await app.request('/nowhere');
    await app.request('/down');
    const access = lines.filter((l) => l.msg === 'request');
    assert.deepEqual(
      access.map((l) => [l.level, l.method, l.route, l.path, l.status, l.error]),
      [
        ['info', 'GET', '/items/:id', '/items/7', 200, undefined],
        ['info', 'GET', '/items/:id', '/items/0', 404, 'no item 0'],
        ['info', 'GET', undefined, '/nowhere', 404, 'no route for GET /nowhere'],
        ['error', 'GET', '/down', '/down', 503, 'the database is away'],
      ],
    );
    assert.equal(lines.length, access.length, 'nothing else');
    for (const [i, line] of access.entries()) {
      assert.deepEqual([line.traceId, line.spanId, line.service], [spans[i].traceId, spans[i].id, 'svc']);
      assert.ok(typeof line.durationMs === 'number' && line.durationMs >= 0 && line.durationMs < 1000, String(line.durationMs));
    }
  });

  it('answers a method a path does not route with 405 and what it allows, an unknown path with 404', async () => {
    const { app } = setup({
      routes: (app) => {
        app.get('/items/:id', (c) => c.json({}));
        app.post('/items/:id', (c) => c.json({}));
        app.post('/upload', (c) => c.json({}));
      },
    });
    const del = await app.request('/items/7', { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.equal(del.headers.get('allow'), 'GET, HEAD, POST');
    assert.deepEqual(await del.json(), { error: 'DELETE is not allowed on /items/7; it answers GET, HEAD, POST' });
    const get = await app.request('/upload');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const head = await app.request('/upload', { method: 'HEAD' });
    assert.equal(head.status, 405, 'a HEAD as its GET');
    assert.equal(head.headers.get('allow'), 'POST');
    const nowhere = await app.request('/nowhere', { method: 'PUT' });
    assert.equal(nowhere.status, 404);
    assert.deepEqual(await nowhere.json(), { error: 'no route for PUT /nowhere' });
    assert.equal((await app.request('/health', { method: 'POST' })).status, 405, 'the health routes too');
  });

  it('neither traces nor logs probes', async () => {
    const { app, spans, lines } = setup({}, false, 'debug');
    for (const path of ['/health', '/health/ready', '/health/live']) assert.equal((await app.request(path)).status, 200);
    assert.deepEqual(spans, []);
    assert.deepEqual(lines, []);
  });

  it('logs only failures when the level is warn', async () => {
    const { app, lines } = setup({ routes: (app) => app.get('/x', (c) => c.json({ error: 'no' }, c.req.query('s') === '5' ? 500 : 400)) }, false, 'warn');
    await app.request('/x');
    await app.request('/x?s=5');
    assert.deepEqual(lines.map((l) => [l.level, l.status]), [['error', 500]]);
  });

  it('tags a SERVER span that answered 5xx with error, and one that answered 4xx or 499 without', async () => {
    const { app, spans } = setup({
      routes: (app) => {
        app.get('/unavailable', (c) => c.json({ error: 'down for now' }, 500));
        app.get('/bad', (c) => c.json({ error: 'bad' }, 400));
        app.get('/closed', (c) => c.body(null, 499 as 400));
      },
    });
    for (const path of ['/unavailable', '/bad', '/closed']) await app.request(path);
    assert.deepEqual(
      spans.map((s) => [s.tags['http.status_code'], s.tags.error]),
      [['500', '500'], ['400', undefined], ['499', undefined]],
    );
  });

  it('answers unknown routes with a JSON 404 and names the span for the method only', async () => {
    const { app, spans } = setup();
    const response = await app.request('/nowhere/../etc');
    assert.equal(response.status, 404);
    assert.match((await response.json()).error, /no route/);
    assert.equal(spans[0].name, 'get');
    assert.equal(spans[0].tags['http.route'], undefined);
  });

  it('reports health from its checks, and DOWN while stopping', async () => {
    let problem: string | undefined;
    const { app, state } = setup({ checks: { db: () => problem }, details: () => ({ queue: 3 }) });
    assert.deepEqual(await (await app.request('/health')).json(), { status: 'UP', details: { queue: 3 } });
    problem = 'unreadable';
    const down = await app.request('/health');
    assert.equal(down.status, 503);
    assert.equal((await down.json()).reason, 'db: unreadable');
    problem = undefined;
    state.stopping = true;
    assert.equal((await app.request('/health')).status, 503);
  });

  it('is ready with its essential checks only, and live while it serves', async () => {
    let broker: string | undefined = 'not connected';
    const { app, state } = setup({ checks: { db: () => undefined, broker: () => broker }, readiness: ['db'] });
    assert.equal((await app.request('/health')).status, 503);
    assert.deepEqual(await (await app.request('/health/ready')).json(), { status: 'UP' });
    assert.equal((await app.request('/health/live')).status, 200);
    broker = undefined;
    assert.equal((await app.request('/health')).status, 200);
    state.stopping = true;
    assert.equal((await app.request('/health/ready')).status, 503, 'not ready while stopping');
    assert.equal((await app.request('/health/live')).status, 200, 'still live while stopping');
  });

  it('answers health and probe routes untraced, even with a sampled caller, and traces the rest', async () => {
    const { app, spans, lines } = setup({ routes: (app) => app.get('/x', (c) => c.text('ok')) });
    const sampled = { headers: { traceparent: '00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01' } };
    for (const path of ['/health', '/health/ready', '/health/live']) {
      const response = await app.request(path, sampled);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('traceresponse'), null, `${path} carries no trace`);
    }
    assert.equal(spans.length, 0, 'no span for a probe');
    assert.deepEqual(lines, [], 'no log line for a probe');
    await app.request('/x', sampled);
    await app.request('/health/x');
    assert.deepEqual(spans.map((s) => s.name), ['get /x', 'get'], 'other routes, unknown ones under /health included, are traced');
  });

  it('has the testability switch only when enabled', async () => {
    assert.equal((await setup().app.request('/testability/healthy/false')).status, 404);
    const { app } = setup({}, true);
    assert.equal((await app.request('/testability/healthy/false')).status, 200);
    assert.equal((await app.request('/health')).status, 503);
    assert.equal((await app.request('/testability/healthy/maybe')).status, 400);
    await app.request('/testability/healthy/true');
    assert.equal((await app.request('/health')).status, 200);
  });

  it('answers HEAD like GET, with the length of its body and without its side effects', async () => {
    const { app, state } = setup({}, true);
    const head = await app.request('/testability/failing/true', { method: 'HEAD' });
    const get = await app.request('/testability/failing/true');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String((await get.arrayBuffer()).byteLength));
    assert.equal((await head.arrayBuffer()).byteLength, 0, 'no body');
    assert.equal(state.failing, true, 'the GET switched');
    await app.request('/testability/failing/false', { method: 'HEAD' });
    assert.equal(state.failing, true, 'a HEAD switches nothing');
  });
});
