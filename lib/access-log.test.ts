import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, type LogFields, type Logger, type LogLevel } from './log.ts';
import { createServiceApp, type ServiceParts } from './service.ts';
import { createMemoryExporter } from './tracing/exporter.ts';
import { Tracing } from './tracing/tracer.ts';

function service(routes: ServiceParts['routes'], log?: Logger) {
  const lines: any[] = [];
  log ??= createLogger({ service: 'svc' }, { write: (line) => lines.push(JSON.parse(line)) });
  const tracing = new Tracing({ serviceName: 'svc', exporter: createMemoryExporter() });
  const { app } = createServiceApp({ tracing, log, parts: { routes } });
  return { app, access: () => lines.filter((l) => l.msg === 'request') };
}

describe('access lines', () => {
  it('carry the reason of a 4xx or 5xx only, from a JSON answer’s error field, whatever its charset', async () => {
    const { app, access } = service((app) => {
      app.get('/ok', (c) => c.json({ error: 'a field of the answer, not a failure' }));
      app.get('/moved', (c) => c.json({ error: 'not a failure either' }, 302 as 200));
      app.get('/bad', (c) => c.json({ error: 'no such item' }, 400));
      app.get('/utf8', (c) => c.body('{"error":"spelled with a charset"}', 409, { 'content-type': 'application/json; charset=utf-8' }));
      app.get('/text', (c) => c.body('{"error":"text that looks like JSON"}', 400, { 'content-type': 'text/plain' }));
      app.get('/plain', (c) => c.body('{"error":"no type"}', 400, {}));
      app.get('/object', (c) => c.json({ error: { code: 7 } }, 422));
      app.get('/broken', (c) => c.body('{"error":', 400, { 'content-type': 'application/json' }));
    });
    for (const path of ['/ok', '/moved', '/bad', '/utf8', '/text', '/plain', '/object', '/broken']) await app.request(path);
    assert.deepEqual(
      access().map((l) => [l.path, l.status, l.error]),
      [
        ['/ok', 200, undefined],
        ['/moved', 302, undefined],
        ['/bad', 400, 'no such item'],
        ['/utf8', 409, 'spelled with a charset'],
        ['/text', 400, undefined],
        ['/plain', 400, undefined],
        ['/object', 422, undefined],
        ['/broken', 400, undefined],
      ],
    );
  });

  it('say 500 for Response.error(), which no server can send and listen answers 500', async () => {
    const { app, access } = service((app) => app.get('/network-error', () => Response.error()));
    await app.request('/network-error');
    assert.deepEqual(access().map((l) => [l.level, l.status]), [['error', 500]]);
  });

  it('keep the first 200 characters of the path', async () => {
    const { app, access } = service((app) => app.get('/items/:id', (c) => c.json({})));
    const id = 'x'.repeat(300);
    await app.request(`/items/${id}`);
    const [line] = access();
    assert.equal(line.route, '/items/:id');
    assert.equal(line.path, `/items/${id}`.slice(0, 200));
    assert.equal(line.path.length, 200);
  });

  it('are not made at all when the level leaves them out', async () => {
    const asked: Array<[LogLevel, string, LogFields | undefined]> = [];
    const level = (name: LogLevel) => (msg: string, fields?: LogFields) => void asked.push([name, msg, fields]);
    const onlyErrors: Logger = {
      debug: level('debug'),
      info: level('info'),
      warn: level('warn'),
      error: level('error'),
      enabled: (l) => l === 'error',
      child: () => onlyErrors,
    };
    const { app } = service((app) => {
      app.get('/bad', (c) => c.json({ error: 'no such item' }, 404));
      app.get('/down', (c) => c.json({ error: 'away' }, 503));
    }, onlyErrors);
    await app.request('/bad');
    await app.request('/down');
    assert.deepEqual(
      asked.map(([name, msg, fields]) => [name, msg, fields?.status, fields?.error]),
      [['error', 'request', 503, 'away']],
    );
  });
});
