/**
 * The W3C Trace Context test service speaks the official harness's protocol: it POSTs
 * each entry's arguments to the entry's url, continuing the incoming context.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../tools/landscape.ts';

describe('the W3C Trace Context test service', () => {
  const callbacks: Array<{ headers: IncomingHttpHeaders; body: unknown }> = [];
  const harness = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      callbacks.push({ headers: request.headers, body: JSON.parse(body || 'null') });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let harnessUrl = '';
  let serviceUrl = '';
  const service = spawn(process.execPath, ['--import', 'tsx', 'tools/w3c-conformance.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', ZIPKIN_URL: 'http://127.0.0.1:9' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });

  before(async () => {
    await new Promise<void>((resolve) => harness.listen(0, '127.0.0.1', resolve));
    harnessUrl = `http://127.0.0.1:${(harness.address() as { port: number }).port}`;
    serviceUrl = await new Promise<string>((resolve) => {
      createInterface({ input: service.stdout! }).on('line', (line) => {
        if (line.includes('"msg":"listening"')) resolve(`http://127.0.0.1:${JSON.parse(line).port}`);
      });
    });
  });
  after(() => {
    service.kill('SIGTERM');
    harness.closeAllConnections();
    harness.close();
  });

  const test = (instructions: unknown, headers: Record<string, string> = {}) =>
    fetch(`${serviceUrl}/test`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(instructions) });

  it('calls back each url in order with its arguments, continuing the trace', async () => {
    callbacks.length = 0;
    const response = await test(
      [
        { url: `${harnessUrl}/one`, arguments: [{ url: `${harnessUrl}/nested`, arguments: [] }] },
        { url: `${harnessUrl}/two`, arguments: [] },
      ],
      { traceparent: '00-12345678901234567890123456789012-1234567890123456-01', tracestate: 'foo=1,bar=2' },
    );
    assert.equal(response.status, 200);
    assert.equal(callbacks.length, 2);
    assert.deepEqual(callbacks[0]!.body, [{ url: `${harnessUrl}/nested`, arguments: [] }]);
    const parentIds = new Set<string>();
    for (const { headers } of callbacks) {
      const [version, traceId, parentId, flags] = String(headers.traceparent).split('-');
      assert.equal(version, '00');
      assert.equal(traceId, '12345678901234567890123456789012');
      assert.notEqual(parentId, '1234567890123456');
      assert.equal(flags, '01');
      assert.equal(headers.tracestate, 'foo=1,bar=2');
      parentIds.add(parentId!);
    }
    assert.equal(parentIds.size, 2, 'each call is its own span');
  });

  it('starts a new trace when the traceparent is invalid', async () => {
    callbacks.length = 0;
    await (await test([{ url: `${harnessUrl}/x`, arguments: [] }], { traceparent: '00-12345678901234567890123456789012-1234567890123456-0x' })).body?.cancel();
    const [, traceId] = String(callbacks[0]!.headers.traceparent).split('-');
    assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(traceId, '12345678901234567890123456789012');
  });

  it('refuses a body that is not a list of instructions', async () => {
    const response = await test({ url: 'nope' });
    assert.equal(response.status, 400);
    assert.match((await response.json()).error, /JSON array/);
  });
});
