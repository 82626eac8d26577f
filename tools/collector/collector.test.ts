import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import zipkin from 'zipkin';
import { createCollectorApp, startCollector } from './index.ts';
import type { RunningCollector, Span } from './index.ts';

const SHARED_SPEC = new URL('../../../shared/specs/zipkin2-api.yaml', import.meta.url);
const VENDORED_SPEC = new URL('./zipkin2-api.yaml', import.meta.url);

const T0 = 1_700_000_000_000_000; // epoch microseconds
const T0_MS = T0 / 1000;
const TRACE_128 = '4e441824ec2b6a44ffdc9bb9a6453df3';
const TRACE_128_LOW = 'ffdc9bb9a6453df3';
const TRACE_64 = '5af7183fb1d4cf5f';

/** A checkout across four services: RPC with a shared span id, then messaging. Newest trace. */
const checkoutTrace: Span[] = [
  {
    traceId: TRACE_128,
    id: 'a000000000000001',
    kind: 'SERVER',
    name: 'post /checkout',
    timestamp: T0,
    duration: 50_000,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
    remoteEndpoint: { ipv6: '2001:db8::c001' },
    tags: { 'http.method': 'POST' },
  },
  {
    traceId: TRACE_128,
    parentId: 'a000000000000001',
    id: 'a000000000000002',
    kind: 'CLIENT',
    name: 'get /stock',
    timestamp: T0 + 1_000,
    duration: 20_000,
    localEndpoint: { serviceName: 'frontend' },
    remoteEndpoint: { serviceName: 'inventory' },
  },
  {
    traceId: TRACE_128,
    parentId: 'a000000000000001',
    id: 'a000000000000002',
    kind: 'SERVER',
    name: 'get /stock',
    timestamp: T0 + 2_000,
    duration: 18_000,
    localEndpoint: { serviceName: 'inventory' },
    annotations: [{ timestamp: T0 + 5_000, value: 'cache.miss' }],
    shared: true,
  },
  {
    traceId: TRACE_128,
    parentId: 'a000000000000001',
    id: 'a000000000000003',
    kind: 'PRODUCER',
    name: 'publish order',
    timestamp: T0 + 30_000,
    duration: 500,
    localEndpoint: { serviceName: 'frontend' },
    remoteEndpoint: { serviceName: 'rabbitmq' },
  },
  {
    traceId: TRACE_128,
    parentId: 'a000000000000003',
    id: 'a000000000000004',
    kind: 'CONSUMER',
    name: 'consume order',
    timestamp: T0 + 31_000,
    duration: 9_000,
    localEndpoint: { serviceName: 'mailer' },
    remoteEndpoint: { serviceName: 'rabbitmq' },
    tags: { error: 'smtp timeout' },
  },
];

/** A one-span 64-bit trace, a minute older. */
const healthTrace: Span[] = [
  {
    traceId: TRACE_64,
    id: 'b000000000000001',
    kind: 'SERVER',
    name: 'get /health',
    timestamp: T0 - 60_000_000,
    duration: 300,
    localEndpoint: { serviceName: 'inventory' },
    debug: true,
  },
];

const validSpan: Span = { traceId: TRACE_64, id: 'c000000000000001', name: 'ok', timestamp: T0, duration: 1 };

let collector: RunningCollector;

before(async () => {
  collector = await startCollector({ port: 0 });
});
after(() => collector.close());
beforeEach(() => collector.store.clear());

function postSpans(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${collector.url}/api/v2/spans`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function getJson(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${collector.url}${path}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  return { status: response.status, body: await response.json() };
}

async function storeBothTraces(): Promise<void> {
  // Posted out of order and in two requests, as reporters do.
  assert.equal((await postSpans([...healthTrace, ...checkoutTrace.slice(3)])).status, 202);
  assert.equal((await postSpans(checkoutTrace.slice(0, 3))).status, 202);
}

describe('vendored Zipkin API spec', () => {
  test('is identical to ../shared/specs/zipkin2-api.yaml', {
    skip: !existsSync(SHARED_SPEC) && 'no ../shared checkout beside this repository',
  }, () => {
    assert.equal(readFileSync(VENDORED_SPEC, 'utf8'), readFileSync(SHARED_SPEC, 'utf8'));
  });

  test('keeps its Apache-2.0 license header', () => {
    const header = readFileSync(VENDORED_SPEC, 'utf8').split('\n').slice(0, 14).join('\n');
    assert.match(header, /Copyright .* The OpenZipkin Authors/);
    assert.match(header, /Licensed under the Apache License, Version 2\.0/);
  });
});

describe('startCollector', () => {
  test('listens on the port the OS picked for port 0 and reports it', () => {
    assert.ok(collector.port > 0);
    assert.equal(collector.url, `http://127.0.0.1:${collector.port}`);
  });

  test('GET /health is UP', async () => {
    assert.deepEqual(await getJson('/health'), { status: 200, body: { status: 'UP' } });
  });

  test('rejects when the port is taken, and close() releases the port', async () => {
    await assert.rejects(startCollector({ port: collector.port }), /EADDRINUSE/);
    const other = await startCollector({ port: 0 });
    await other.close();
    await assert.rejects(fetch(`${other.url}/health`));
  });
});

describe('POST /api/v2/spans with valid spans', () => {
  test('answers 202 and stores CLIENT, SERVER, PRODUCER and CONSUMER spans', async () => {
    await storeBothTraces();
    assert.equal(collector.store.spanCount, 6);
  });

  test('accepts an empty list and a charset parameter', async () => {
    const response = await postSpans([], { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(response.status, 202);
  });

  test('accepts spans as zipkin-js encodes them', async () => {
    const span = new zipkin.model.Span(
      new zipkin.TraceId({ traceId: TRACE_64, spanId: 'd000000000000001', sampled: new zipkin.option.Some(true) }),
    );
    span.setName('GET /Quotes');
    span.setKind('SERVER');
    span.setTimestamp(T0);
    span.setDuration(0.4); // rounds up to 1µs like zipkin-js does
    span.setLocalEndpoint(new zipkin.model.Endpoint({ serviceName: 'quotes', ipv4: '10.1.2.3', port: 8080 }));
    span.addAnnotation(T0 + 1, 'ws');
    span.putTag('http.status_code', '200');

    const response = await postSpans(`[${zipkin.jsonEncoder.JSON_V2.encode(span)}]`);
    assert.equal(response.status, 202, await response.text());
    assert.equal(collector.store.getTrace(TRACE_64)[0]?.name, 'get /quotes');
  });

  test('stores names lowercase and drops empty values, as Zipkin does', async () => {
    await postSpans([{ ...validSpan, name: 'GET /Items', localEndpoint: { serviceName: 'Frontend' }, tags: {} }]);
    const [stored] = collector.store.getTrace(TRACE_64);
    assert.deepEqual(stored, { ...validSpan, name: 'get /items', localEndpoint: { serviceName: 'frontend' } });
  });

  test('merges a span reported in pieces: annotations and tags unioned, other fields first wins', async () => {
    const piece = { traceId: TRACE_64, id: 'e000000000000001', kind: 'SERVER' } as const;
    await postSpans([{
      ...piece,
      name: 'get /slow',
      timestamp: T0,
      duration: 900,
      localEndpoint: { serviceName: 'vip' },
      annotations: [{ timestamp: T0 + 500, value: 'b' }],
      tags: { first: '1', shared: 'old' },
    }]);
    await postSpans([{
      ...piece,
      name: 'renamed',
      localEndpoint: { serviceName: 'vip', port: 9000 },
      remoteEndpoint: { serviceName: 'client' },
      annotations: [{ timestamp: T0 + 100, value: 'a' }, { timestamp: T0 + 500, value: 'b' }],
      tags: { late: '2', shared: 'new' },
    }]);

    assert.equal(collector.store.spanCount, 1);
    assert.deepEqual(collector.store.getTrace(TRACE_64), [{
      ...piece,
      name: 'get /slow',
      timestamp: T0,
      duration: 900,
      localEndpoint: { serviceName: 'vip', port: 9000 },
      remoteEndpoint: { serviceName: 'client' },
      annotations: [{ timestamp: T0 + 100, value: 'a' }, { timestamp: T0 + 500, value: 'b' }],
      tags: { first: '1', shared: 'new', late: '2' },
    }]);
  });

  test('keeps the client and shared server halves of one span id apart', async () => {
    await postSpans(checkoutTrace.slice(1, 3));
    assert.equal(collector.store.spanCount, 2);
  });
});

describe('GET /api/v2/trace/{traceId}', () => {
  beforeEach(storeBothTraces);

  test('returns the spans of a 128-bit trace by start time', async () => {
    assert.deepEqual(await getJson(`/api/v2/trace/${TRACE_128}`), { status: 200, body: checkoutTrace });
  });

  test('compares trace ids lowercase', async () => {
    const { body } = await getJson(`/api/v2/trace/${TRACE_128.toUpperCase()}`);
    assert.deepEqual(body, checkoutTrace);
  });

  test('finds a 128-bit trace by its low 64 bits', async () => {
    const { body } = await getJson(`/api/v2/trace/${TRACE_128_LOW}`);
    assert.deepEqual(body, checkoutTrace);
  });

  test('returns a 64-bit trace', async () => {
    assert.deepEqual(await getJson(`/api/v2/trace/${TRACE_64}`), { status: 200, body: healthTrace });
  });

  test('answers 404 for an unknown trace and 400 for a malformed id', async () => {
    const unknown = await getJson('/api/v2/trace/0123456789abcdef');
    assert.equal(unknown.status, 404);
    assert.match((unknown.body as { error: string }).error, /not found/);
    assert.equal((await getJson('/api/v2/trace/not-a-trace-id')).status, 400);
  });
});

describe('GET /api/v2/traces', () => {
  beforeEach(storeBothTraces);

  /** The fixtures are from T0: queries end just after it unless they say otherwise. */
  const inWindow = (query: string) => {
    const params = new URLSearchParams(query);
    if (!params.has('endTs')) params.set('endTs', String(T0_MS + 1000));
    if (!params.has('lookback')) params.set('lookback', String(3_600_000));
    return `/api/v2/traces?${params}`;
  };
  const traces = async (query: string) => {
    const { status, body } = await getJson(inWindow(query));
    assert.equal(status, 200);
    return (body as Span[][]).map((trace) => trace[0]?.traceId);
  };

  test('returns whole traces, newest first', async () => {
    const { body } = await getJson(inWindow(''));
    assert.deepEqual(body, [checkoutTrace, healthTrace]);
  });

  test('looks back one day from now unless told otherwise, as Zipkin does', async () => {
    assert.deepEqual((await getJson('/api/v2/traces')).body, []);
    assert.deepEqual(await traces(`?endTs=${T0_MS + 86_400_000}&lookback=`), [TRACE_128]);
    const recent: Span = { ...validSpan, traceId: 'f000000000000001', timestamp: Date.now() * 1000 - 3_600_000_000 };
    await postSpans([recent]);
    assert.deepEqual(((await getJson('/api/v2/traces')).body as Span[][]).map((trace) => trace[0]?.traceId), ['f000000000000001']);
  });

  test('filters by serviceName, spanName and remoteServiceName', async () => {
    assert.deepEqual(await traces('?serviceName=mailer'), [TRACE_128]);
    assert.deepEqual(await traces('?serviceName=Inventory'), [TRACE_128, TRACE_64]);
    assert.deepEqual(await traces('?serviceName=inventory&spanName=get%20/health'), [TRACE_64]);
    assert.deepEqual(await traces('?serviceName=mailer&spanName=get%20/health'), []);
    assert.deepEqual(await traces('?remoteServiceName=rabbitmq'), [TRACE_128]);
    assert.deepEqual(await traces('?serviceName=nobody'), []);
  });

  test('applies limit, endTs and lookback (milliseconds)', async () => {
    assert.deepEqual(await traces('?limit=1'), [TRACE_128]);
    assert.deepEqual(await traces(`?endTs=${T0_MS - 1}`), [TRACE_64]);
    assert.deepEqual(await traces(`?endTs=${T0_MS + 100}&lookback=1000`), [TRACE_128]);
  });

  test('applies minDuration and maxDuration (microseconds) and annotationQuery', async () => {
    assert.deepEqual(await traces('?minDuration=40000'), [TRACE_128]);
    assert.deepEqual(await traces('?minDuration=200&maxDuration=400'), [TRACE_64]);
    assert.deepEqual(await traces('?minDuration=100000'), []);
    assert.deepEqual(await traces('?annotationQuery=error'), [TRACE_128]);
    assert.deepEqual(await traces('?annotationQuery=http.method%3DPOST%20and%20cache.miss'), [TRACE_128]);
    assert.deepEqual(await traces('?annotationQuery=http.method%3DGET'), []);
  });

  test('answers 400 for malformed numbers and Zipkin\'s limits', async () => {
    for (const query of ['?limit=ten', '?limit=0', '?endTs=-5', '?endTs=0', '?lookback=0', '?minDuration=0', '?maxDuration=10', '?minDuration=20&maxDuration=10']) {
      assert.equal((await getJson(`/api/v2/traces${query}`)).status, 400, query);
    }
  });
});

describe('service and span name lookups', () => {
  beforeEach(storeBothTraces);

  test('GET /api/v2/services lists local service names', async () => {
    assert.deepEqual((await getJson('/api/v2/services')).body, ['frontend', 'inventory', 'mailer']);
  });

  test('GET /api/v2/spans lists the span names of a service', async () => {
    assert.deepEqual((await getJson('/api/v2/spans?serviceName=inventory')).body, ['get /health', 'get /stock']);
    assert.equal((await getJson('/api/v2/spans')).status, 400);
  });

  test('GET /api/v2/remoteServices lists the services a service called', async () => {
    assert.deepEqual((await getJson('/api/v2/remoteServices?serviceName=frontend')).body, ['inventory', 'rabbitmq']);
    assert.equal((await getJson('/api/v2/remoteServices')).status, 400);
  });
});

describe('POST /api/v2/spans with an invalid span: 400, reason given, nothing stored', () => {
  const invalidSpans: { problem: string; span: object; field: string }[] = [
    { problem: 'span id of 15 hex characters', span: { ...validSpan, id: 'c00000000000001' }, field: 'id' },
    {
      problem: 'parentId of 17 hex characters',
      span: { ...validSpan, parentId: 'c0000000000000001' },
      field: 'parentId',
    },
    { problem: 'trace id of 20 hex characters', span: { ...validSpan, traceId: `${TRACE_64}abcd` }, field: 'traceId' },
    { problem: 'trace id of 33 hex characters', span: { ...validSpan, traceId: `${TRACE_128}a` }, field: 'traceId' },
    { problem: 'non-hex trace id', span: { ...validSpan, traceId: 'zzzzzzzzzzzzzzzz' }, field: 'traceId' },
    { problem: 'uppercase span id', span: { ...validSpan, id: 'C000000000000001' }, field: 'id' },
    { problem: 'id inside a longer string', span: { ...validSpan, traceId: `trace-${TRACE_64}` }, field: 'traceId' },
    { problem: 'all-zero span id', span: { ...validSpan, id: '0000000000000000' }, field: 'id' },
    { problem: 'unknown kind', span: { ...validSpan, kind: 'RPC' }, field: 'kind' },
    {
      problem: 'numeric tag value',
      span: { ...validSpan, tags: { 'http.status_code': 200 } },
      field: 'tags.http.status_code',
    },
    { problem: 'null tag value', span: { ...validSpan, tags: { note: null } }, field: 'tags.note' },
    { problem: 'missing traceId', span: { id: validSpan.id, name: 'no trace' }, field: 'traceId' },
    { problem: 'missing id', span: { traceId: TRACE_64 }, field: 'id' },
    { problem: 'zero duration', span: { ...validSpan, duration: 0 }, field: 'duration' },
    { problem: 'fractional timestamp', span: { ...validSpan, timestamp: 1.5 }, field: 'timestamp' },
    {
      problem: 'annotation without value',
      span: { ...validSpan, annotations: [{ timestamp: T0 }] },
      field: 'annotations[0].value',
    },
    {
      problem: 'malformed ipv4',
      span: { ...validSpan, localEndpoint: { ipv4: '300.1.1.1' } },
      field: 'localEndpoint.ipv4',
    },
  ];

  for (const { problem, span, field } of invalidSpans) {
    test(problem, async () => {
      const response = await postSpans([validSpan, span]);
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: string; details: { span?: number; field: string }[] };
      assert.match(body.error, new RegExp(`span 1 ${field.replace(/[.[\]]/g, '\\$&')}`));
      assert.ok(
        body.details.some((detail) => detail.span === 1 && detail.field === field),
        JSON.stringify(body.details),
      );
      assert.equal(collector.store.spanCount, 0, 'the valid span of the same request must not be stored');
    });
  }

  test('reports every problem of every span', async () => {
    const response = await postSpans([{ traceId: 'x' }, { ...validSpan, kind: 'RPC' }]);
    const { details } = (await response.json()) as { details: { span: number; field: string }[] };
    const located = new Set(details.map(({ span, field }) => `${span}:${field}`));
    assert.deepEqual([...located].sort(), ['0:id', '0:traceId', '1:kind']);
  });

  test('a body that is not an array', async () => {
    const response = await postSpans(validSpan);
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: string }).error, /must be a JSON array/);
  });

  test('a body that is not JSON', async () => {
    const response = await postSpans('[{"traceId": ');
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: string }).error, /not valid JSON/);
  });

  test('a Content-Type other than JSON answers 415', async () => {
    for (const contentType of ['text/plain', 'application/x-protobuf', 'application/x-www-form-urlencoded']) {
      const response = await postSpans([validSpan], { 'content-type': contentType });
      assert.equal(response.status, 415, contentType);
      assert.match(((await response.json()) as { error: string }).error, /Content-Type must be application\/json/);
    }
    assert.equal(collector.store.spanCount, 0);
  });

  test('a compressed body answers 415', async () => {
    const response = await postSpans([validSpan], { 'content-encoding': 'gzip' });
    assert.equal(response.status, 415);
    assert.equal(collector.store.spanCount, 0);
  });

  test('a body over 5 MiB answers 413 with JSON', async () => {
    const padding = 'x'.repeat(5 * 1024 * 1024);
    const response = await postSpans([{ ...validSpan, tags: { padding } }]);
    assert.equal(response.status, 413);
    assert.match(((await response.json()) as { error: string }).error, /larger than 5242880 bytes/);
    assert.equal(collector.store.spanCount, 0);
  });
});

describe('createCollectorApp options', () => {
  const post = (app: ReturnType<typeof createCollectorApp>, spans: unknown) =>
    app.request('/api/v2/spans', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spans),
    });
  const span = (traceId: string, id: string): Span => ({ traceId, id, timestamp: T0, duration: 1 });

  test('maxSpans evicts the oldest traces first', async () => {
    const app = createCollectorApp({ maxSpans: 3 });
    await post(app, [span('1000000000000001', 'a000000000000001'), span('1000000000000001', 'a000000000000002')]);
    await post(app, [span('2000000000000002', 'b000000000000001'), span('2000000000000002', 'b000000000000002')]);
    assert.equal(app.store.spanCount, 2);
    assert.equal((await app.request('/api/v2/trace/1000000000000001')).status, 404);
    assert.equal((await app.request('/api/v2/trace/2000000000000002')).status, 200);

    await post(app, [span('3000000000000003', 'c000000000000001')]);
    assert.equal(app.store.spanCount, 3);
    assert.equal((await app.request('/api/v2/trace/2000000000000002')).status, 200);
  });

  test('maxBodyBytes bounds bodies sent without a Content-Length too', async () => {
    const app = createCollectorApp({ maxBodyBytes: 100 });
    const response = await post(app, [{ ...validSpan, name: 'n'.repeat(200) }]);
    assert.equal(response.status, 413);
    assert.equal(app.store.spanCount, 0);
  });

  test('log receives accepted and rejected requests', async () => {
    const events: unknown[] = [];
    const app = createCollectorApp({ log: (event) => events.push(event) });
    await post(app, [validSpan]);
    await post(app, [{}]);
    assert.deepEqual(events.map((event) => (event as { event: string }).event), ['spans accepted', 'spans rejected']);
  });
});

describe('the rest of the read API the Zipkin UI uses', () => {
  beforeEach(storeBothTraces);

  test('GET /api/v2/traceMany returns each listed trace once; fewer than two ids, a repeat or a malformed id is a 400', async () => {
    const { status, body } = await getJson(`/api/v2/traceMany?traceIds=${TRACE_64},${TRACE_128.toUpperCase()},0123456789abcdef`);
    assert.equal(status, 200);
    assert.deepEqual(body, [healthTrace, checkoutTrace]);
    const both = await getJson(`/api/v2/traceMany?traceIds=${TRACE_128},${TRACE_128_LOW}`);
    assert.deepEqual(both.body, [checkoutTrace]);
    for (const query of ['', `?traceIds=${TRACE_64}`, `?traceIds=${TRACE_64},${TRACE_64}`, `?traceIds=${TRACE_64},xyz`]) {
      const { status: refused, body: error } = await getJson(`/api/v2/traceMany${query}`);
      assert.equal(refused, 400, query);
      assert.match((error as { error: string }).error, /traceIds/);
    }
  });

  test('GET /api/v2/dependencies links services over the window, through the broker too; endTs is required', async () => {
    const { body } = await getJson(`/api/v2/dependencies?endTs=${T0_MS + 1000}&lookback=3600000`);
    assert.deepEqual(body, [
      { parent: 'frontend', child: 'rabbitmq', callCount: 1, errorCount: 0 },
      { parent: 'frontend', child: 'inventory', callCount: 1, errorCount: 0 },
      { parent: 'rabbitmq', child: 'mailer', callCount: 1, errorCount: 1 },
    ]);
    assert.deepEqual((await getJson(`/api/v2/dependencies?endTs=${T0_MS - 120_000}&lookback=1000`)).body, []);
    assert.equal((await getJson('/api/v2/dependencies')).status, 400);
    assert.equal((await getJson(`/api/v2/dependencies?endTs=${T0_MS}&lookback=0`)).status, 400);
  });

  test('GET /api/v2/autocompleteKeys lists the configured keys; autocompleteValues their recorded values', async () => {
    const app = createCollectorApp({ autocompleteKeys: ['http.method', 'error'] });
    await app.request('/api/v2/spans', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([...checkoutTrace, { ...validSpan, tags: { 'http.method': 'GET' } }]),
    });
    assert.deepEqual(await (await app.request('/api/v2/autocompleteKeys')).json(), ['http.method', 'error']);
    assert.deepEqual(await (await app.request('/api/v2/autocompleteValues?key=http.method')).json(), ['GET', 'POST']);
    assert.deepEqual(await (await app.request('/api/v2/autocompleteValues?key=db.system')).json(), [], 'not a configured key');
    assert.equal((await app.request('/api/v2/autocompleteValues')).status, 400);
  });
});
