import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { headAnswer, headRequests, isHead } from './head.ts';

describe('HEAD requests', () => {
  const effects: string[] = [];
  const app = new Hono();
  app.use(headRequests());
  app.get('/cheap', (c) => c.json({ status: 'UP', note: 'é' }));
  app.get('/costly/:id', (c) => {
    if (c.req.param('id') !== '1') return c.json({ error: 'no such thing' }, 404);
    if (isHead(c)) return headAnswer(c, 'application/json');
    effects.push('called another service');
    return c.json({ id: '1' });
  });

  const both = async (path: string) => {
    const get = await app.request(path);
    const getBody = new Uint8Array(await get.arrayBuffer());
    const head = await app.request(path, { method: 'HEAD' });
    return { get, getBody, head, headBody: new Uint8Array(await head.arrayBuffer()) };
  };

  it('runs a cheap GET handler and sends the exact length of its body, without the body', async () => {
    const { get, getBody, head, headBody } = await both('/cheap');
    assert.equal(head.status, get.status);
    assert.equal(head.headers.get('content-type'), get.headers.get('content-type'));
    assert.equal(head.headers.get('content-length'), String(getBody.byteLength), 'bytes, not characters');
    assert.equal(headBody.byteLength, 0);
  });

  it('answers before the costly part: the status and type of the GET, no length, no side effect', async () => {
    effects.length = 0;
    const head = await app.request('/costly/1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/json');
    assert.equal(head.headers.get('content-length'), null, 'unknown without making the content');
    assert.deepEqual(effects, []);
    const get = await app.request('/costly/1');
    assert.equal(get.headers.get('content-type'), head.headers.get('content-type'));
    assert.deepEqual(effects, ['called another service']);
  });

  it('answers an error as the GET does, with its length', async () => {
    const { get, getBody, head } = await both('/costly/2');
    assert.equal(head.status, 404);
    assert.equal(head.headers.get('content-length'), String(getBody.byteLength));
    assert.equal(get.status, 404);
  });
});
