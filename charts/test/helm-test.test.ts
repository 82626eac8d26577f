/**
 * The `helm test` Pod's script, run here against stand-ins for accountservice and Zipkin: it
 * passes only when Zipkin comes to hold accountservice's spans of the very trace it started.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import process from 'node:process';
import { describe, test } from 'node:test';
import { find, render } from './render.ts';
import { environment, type Container } from './topology.ts';

const manifests = render({});
const testPod = find(manifests, 'Pod', 'landscape-test') as ReturnType<typeof find> & { spec: { containers: Container[] } };
const container = testPod.spec.containers[0]!;

interface StandIns {
  accountUrl: string;
  zipkinUrl: string;
  traceparents: string[];
  queried: string[];
  close(): Promise<void>;
}

/** accountservice answering `accountStatus`; Zipkin holding `spans(traceId)` from its `readyAfter`th query on. */
async function standIns(options: {
  accountStatus?: number;
  /** How many requests accountservice fails with 503 before it answers accountStatus. */
  accountReadyAfter?: number;
  readyAfter?: number;
  spans: (traceId: string) => object[];
}): Promise<StandIns> {
  const traceparents: string[] = [];
  const queried: string[] = [];
  const listen = (server: Server) =>
    new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
  const account = createServer((req, res) => {
    traceparents.push(String(req.headers.traceparent));
    const status = traceparents.length <= (options.accountReadyAfter ?? 0) ? 503 : (options.accountStatus ?? 200);
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"id":"10000"}');
  });
  const zipkin = createServer((req, res) => {
    const traceId = /^\/api\/v2\/trace\/([0-9a-f]+)$/.exec(req.url ?? '')?.[1];
    if (!traceId) return void res.writeHead(404).end();
    queried.push(traceId);
    if (queried.length < (options.readyAfter ?? 1)) return void res.writeHead(404).end('Trace not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.spans(traceId)));
  });
  const [accountBase, zipkinUrl] = await Promise.all([listen(account), listen(zipkin)]);
  return {
    accountUrl: `${accountBase}/accounts/10000`,
    zipkinUrl,
    traceparents,
    queried,
    close: async () => {
      await Promise.all([account, zipkin].map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

/** Runs the Pod's command with its environment, the URLs pointed at the stand-ins. */
function runScript(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const [shell, ...args] = container.command!;
  const child = spawn(shell!, args, {
    env: { ...process.env, ...(environment(manifests, container) as Record<string, string>), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

const span = (traceId: string, serviceName: string) => ({
  traceId,
  id: traceId.slice(0, 16),
  kind: 'SERVER',
  name: 'get /accounts/:accountid',
  localEndpoint: { serviceName },
});

// The Pod's image (curlimages/curl) has curl, od and a POSIX sh; so must this machine.
const missing = ['curl', 'od'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const skip = missing.length > 0 && `${missing.join(' and ')} not installed`;

describe('the helm test hook', () => {
  test('is a test hook that asks accountservice and Zipkin through their Services', () => {
    assert.equal(testPod.metadata.annotations?.['helm.sh/hook'], 'test');
    const env = environment(manifests, container);
    assert.equal(env.ACCOUNT_URL, 'http://accountservice:6767/accounts/10000');
    assert.equal(env.ZIPKIN_URL, 'http://zipkin:9411');
  });

  test('passes once Zipkin holds accountservice spans of the trace it started', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ readyAfter: 2, spans: (id) => [span(id, 'accountservice'), span(id, 'quotes-service')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, TIMEOUT: '10' });
      assert.equal(code, 0, output);
      assert.equal(stand.traceparents.length, 1);
      const [, traceId] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(stand.traceparents[0]!) ?? [];
      assert.ok(traceId, `a sampled W3C traceparent: ${stand.traceparents[0]}`);
      assert.ok(stand.queried.length >= 2 && stand.queried.every((id) => id === traceId), 'it polls Zipkin for that trace');
    } finally {
      await stand.close();
    }
  });

  test('asks accountservice again until it answers, as right after an install', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ accountReadyAfter: 2, spans: (id) => [span(id, 'accountservice')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, TIMEOUT: '15' });
      assert.equal(code, 0, output);
      assert.equal(stand.traceparents.length, 3, 'two refusals, then the answer');
      assert.equal(new Set(stand.traceparents).size, 1, 'one trace throughout');
    } finally {
      await stand.close();
    }
  });

  test('fails when Zipkin never holds accountservice spans of the trace', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ spans: (id) => [span(id, 'quotes-service')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, TIMEOUT: '3' });
      assert.equal(code, 1);
      assert.match(output, /Zipkin has no span of accountservice/);
    } finally {
      await stand.close();
    }
  });

  test('fails when accountservice does not answer the request', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ accountStatus: 503, spans: (id) => [span(id, 'accountservice')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, TIMEOUT: '3' });
      assert.notEqual(code, 0);
      assert.match(output, /accountservice did not answer .* within 3s/);
      assert.equal(stand.queried.length, 0, 'no trace to look for');
    } finally {
      await stand.close();
    }
  });
});
