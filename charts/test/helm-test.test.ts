/**
 * The `helm test` Pod's script, run here against stand-ins for accountservice, Zipkin and a
 * write-only span receiver: it passes only when Zipkin comes to hold accountservice's spans of the
 * very trace it started, or, where it was given no query API and finds none, says it could not check that.
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
  /** A write-only span receiver: takes POST /api/v2/spans (202), answers anything else 405. */
  receiverUrl: string;
  traceparents: string[];
  queried: string[];
  /** The bodies posted to the receiver, and the other requests it got (method and path). */
  received: { posted: string[]; other: string[] };
  close(): Promise<void>;
}

/** accountservice answering `accountStatus`; Zipkin holding `spans(traceId)` from its `readyAfter`th query on. */
async function standIns(options: {
  accountStatus?: number;
  /** How many requests accountservice fails with 503 before it answers accountStatus. */
  accountReadyAfter?: number;
  readyAfter?: number;
  /** How many asks of GET /api/v2/services Zipkin answers 503 (starting) before its list. */
  servicesReadyAfter?: number;
  spans: (traceId: string) => object[];
}): Promise<StandIns> {
  const traceparents: string[] = [];
  const queried: string[] = [];
  const received = { posted: [] as string[], other: [] as string[] };
  let servicesAsked = 0;
  const listen = (server: Server) =>
    new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
  const account = createServer((req, res) => {
    traceparents.push(String(req.headers.traceparent));
    const status = traceparents.length <= (options.accountReadyAfter ?? 0) ? 503 : (options.accountStatus ?? 200);
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"id":"10000"}');
  });
  const zipkin = createServer((req, res) => {
    if (req.url === '/api/v2/services') {
      if (++servicesAsked <= (options.servicesReadyAfter ?? 0)) return void res.writeHead(503).end();
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('["accountservice"]');
    }
    const traceId = /^\/api\/v2\/trace\/([0-9a-f]+)$/.exec(req.url ?? '')?.[1];
    if (!traceId) return void res.writeHead(404).end();
    queried.push(traceId);
    if (queried.length < (options.readyAfter ?? 1)) return void res.writeHead(404).end('Trace not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.spans(traceId)));
  });
  const receiver = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/v2/spans') {
      received.other.push(`${req.method} ${req.url}`);
      return void res.writeHead(405).end();
    }
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.posted.push(body);
      res.writeHead(202).end();
    });
  });
  const [accountBase, zipkinUrl, receiverUrl] = await Promise.all([listen(account), listen(zipkin), listen(receiver)]);
  return {
    accountUrl: `${accountBase}/accounts/10000`,
    zipkinUrl,
    receiverUrl,
    traceparents,
    queried,
    received,
    close: async () => {
      await Promise.all([account, zipkin, receiver].map((server) => new Promise((resolve) => server.close(resolve))));
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
    assert.deepEqual([env.ZIPKIN_QUERY_URL, env.ZIPKIN_QUERY_GIVEN], ['http://zipkin:9411', 'true'], "the chart's Zipkin is read as a query API");
  });

  test('passes once Zipkin holds accountservice spans of the trace it started', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ readyAfter: 2, spans: (id) => [span(id, 'accountservice'), span(id, 'quotes-service')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, TIMEOUT: '10' });
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
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, TIMEOUT: '15' });
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
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, TIMEOUT: '3' });
      assert.equal(code, 1);
      assert.match(output, /Zipkin has no span of accountservice/);
    } finally {
      await stand.close();
    }
  });

  test('fails when accountservice does not answer the request', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ accountStatus: 503, spans: (id) => [span(id, 'accountservice')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, TIMEOUT: '3' });
      assert.notEqual(code, 0);
      assert.match(output, /accountservice did not answer .* within 3s/);
      assert.equal(stand.queried.length, 0, 'no trace to look for');
    } finally {
      await stand.close();
    }
  });
  test('reads the trace from the query URL given apart from a write-only receiver, and asks the receiver nothing', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ readyAfter: 2, spans: (id) => [span(id, 'accountservice')] });
    try {
      const env = { ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.receiverUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, ZIPKIN_QUERY_GIVEN: 'true', TIMEOUT: '10' };
      const { code, output } = await runScript(env);
      assert.equal(code, 0, output);
      assert.match(output, /Zipkin holds trace [0-9a-f]{32} with spans of accountservice/);
      assert.ok(stand.queried.length >= 2);
      assert.deepEqual(stand.received, { posted: [], other: [] });
    } finally {
      await stand.close();
    }
  });

  test('waits for a Zipkin still starting to answer its query API', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ servicesReadyAfter: 2, spans: (id) => [span(id, 'accountservice')] });
    try {
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.zipkinUrl, ZIPKIN_QUERY_URL: stand.zipkinUrl, TIMEOUT: '15' });
      assert.equal(code, 0, output);
    } finally {
      await stand.close();
    }
  });

  test('given only a write-only receiver, checks that it takes spans and passes saying what it could not check and why', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ spans: (id) => [span(id, 'accountservice')] });
    try {
      // As rendered for externalZipkin.url alone, with credentials, which no line may print.
      const url = stand.receiverUrl.replace('http://', 'http://tracer:s3cret@');
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: url, ZIPKIN_QUERY_URL: url, ZIPKIN_QUERY_GIVEN: 'false', TIMEOUT: '10' });
      assert.equal(code, 0, output);
      const traceId = /^00-([0-9a-f]{32})-/.exec(stand.traceparents[0]!)![1];
      assert.match(output, new RegExp(`NOT CHECKED: that Zipkin holds trace ${traceId}\\. .*answers no Zipkin query API \\(GET /api/v2/services: HTTP 405\\).*Set externalZipkin\\.queryUrl`));
      assert.match(output, /takes Zipkin spans \(POST \/api\/v2\/spans: HTTP 202\)/);
      assert.ok(!output.includes('s3cret'), output);
      assert.match(output, /tracer:\*\*\*@127\.0\.0\.1/);
      assert.deepEqual(stand.received, { posted: ['[]'], other: ['GET /api/v2/services'] }, 'one probe of each, no span made up');
    } finally {
      await stand.close();
    }
  });

  test('fails at once, naming it, when a query URL it was given answers no query', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ spans: (id) => [span(id, 'accountservice')] });
    try {
      const started = Date.now();
      const env = { ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: stand.receiverUrl, ZIPKIN_QUERY_URL: stand.receiverUrl, ZIPKIN_QUERY_GIVEN: 'true', TIMEOUT: '10' };
      const { code, output } = await runScript(env);
      assert.equal(code, 1, output);
      assert.match(output, /answers no Zipkin query API \(GET \/api\/v2\/services: HTTP 405\), which the test reads the trace from/);
      assert.ok(Date.now() - started < 8000, 'without waiting out its timeout');
    } finally {
      await stand.close();
    }
  });

  test('fails when externalZipkin.url neither answers a query nor takes spans', { skip, timeout: 20_000 }, async () => {
    const stand = await standIns({ spans: (id) => [span(id, 'accountservice')] });
    try {
      // Zipkin's stand-in answers 404 under another path: no query API, no receiver.
      const nothing = `${stand.zipkinUrl}/nothing`;
      const { code, output } = await runScript({ ACCOUNT_URL: stand.accountUrl, ZIPKIN_URL: nothing, ZIPKIN_QUERY_URL: nothing, ZIPKIN_QUERY_GIVEN: 'false', TIMEOUT: '10' });
      assert.equal(code, 1, output);
      assert.match(output, /takes no spans \(POST \/api\/v2\/spans: HTTP 404\), nor answers Zipkin's query API \(GET \/api\/v2\/services: HTTP 404\)/);
    } finally {
      await stand.close();
    }
  });
});
