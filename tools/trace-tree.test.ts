import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Span } from './collector/span.ts';
import { buildSpanTree, formatDuration, mergeSpans, shapeTrace, summarizeTrace, traceRows, walk } from './trace-tree.ts';

const TRACE = '4e441824ec2b6a44ffdc9bb9a6453df3';
const T0 = 1_700_000_000_000_000;
const frontend = { serviceName: 'frontend', ipv4: '172.17.0.13' };
const backend = { serviceName: 'backend', ipv4: '172.17.0.9' };

/** frontend SERVER → frontend CLIENT → backend SERVER (shared id) → backend local, times relative to T0. */
function rpc({ serverStart, serverDuration = 60, clientDuration = 80, server = backend }: {
  serverStart: number;
  serverDuration?: number;
  clientDuration?: number;
  server?: Span['localEndpoint'];
}): Span[] {
  return [
    { traceId: TRACE, id: '0000000000000001', kind: 'SERVER', name: 'get /', timestamp: T0, duration: 100, localEndpoint: frontend },
    {
      traceId: TRACE,
      parentId: '0000000000000001',
      id: '0000000000000002',
      kind: 'CLIENT',
      name: 'get /api',
      timestamp: T0 + 10,
      duration: clientDuration,
      localEndpoint: frontend,
    },
    {
      traceId: TRACE,
      parentId: '0000000000000001',
      id: '0000000000000002',
      kind: 'SERVER',
      name: 'get /api',
      timestamp: T0 + serverStart,
      duration: serverDuration,
      localEndpoint: server,
      annotations: [{ timestamp: T0 + serverStart + 10, value: 'cache.miss' }],
      shared: true,
    },
    {
      traceId: TRACE,
      parentId: '0000000000000002',
      id: '0000000000000003',
      name: 'select',
      timestamp: T0 + serverStart + 5,
      duration: 10,
      localEndpoint: server,
    },
  ];
}

const starts = (spans: Span[]) => {
  const trace = shapeTrace(spans);
  return traceRows(trace).map(({ span, offset }) => `${span.localEndpoint?.serviceName}:${span.name}@${offset}`);
};

describe('clock skew, as Zipkin corrects it', () => {
  test('a server recorded before its client moves to half the unexplained latency after it, with its host\'s spans and annotations', () => {
    const spans = rpc({ serverStart: -20 });
    assert.deepEqual(starts(spans), ['frontend:get /@0', 'frontend:get /api@10', 'backend:get /api@20', 'backend:select@25']);
    const server = traceRows(shapeTrace(spans))[2]!.span;
    assert.deepEqual(server.annotations, [{ timestamp: T0 + 30, value: 'cache.miss' }]);
    assert.equal(spans[2]!.timestamp, T0 - 20, 'the input spans are left as they were');
  });

  test('a server that ran longer than its client (async) starts 1µs after it', () => {
    assert.deepEqual(starts(rpc({ serverStart: -20, clientDuration: 30 })).slice(2), ['backend:get /api@11', 'backend:select@16']);
  });

  test('without durations, the server is pushed 1µs after the client', () => {
    const spans = rpc({ serverStart: -20 }).map((span) => (span.kind === 'SERVER' && span.shared ? { ...span, duration: undefined } : span));
    assert.deepEqual(starts(spans).slice(2, 3), ['backend:get /api@11']);
  });

  test('nothing moves when the server starts after its client, is on the same host, or has no address', () => {
    assert.deepEqual(starts(rpc({ serverStart: 12 })).slice(2, 3), ['backend:get /api@12']);
    const sameHost = rpc({ serverStart: -20, server: { ...frontend, serviceName: 'backend' } });
    assert.deepEqual(starts(sameHost).slice(2, 3), ['backend:get /api@0']);
    const noAddress = rpc({ serverStart: -20, server: { serviceName: 'backend' } });
    assert.deepEqual(starts(noAddress).slice(2, 3), ['backend:get /api@0']);
  });

  test('nothing moves in a trace without a root span, or with two', () => {
    const headless = rpc({ serverStart: -20 }).slice(1);
    assert.deepEqual(starts(headless).slice(1, 2), ['backend:get /api@0']);
    const twoRoots = [...rpc({ serverStart: -20 }), { traceId: TRACE, id: '00000000000000aa', name: 'other', timestamp: T0 }];
    assert.ok(starts(twoRoots).includes('backend:get /api@0'));
  });
});

describe('merging and the span tree', () => {
  test('pieces of a span merge; a server answering its client\'s id without the shared flag gets it', () => {
    const merged = mergeSpans([
      { traceId: TRACE, id: '0000000000000002', kind: 'SERVER', localEndpoint: backend, parentId: '0000000000000001' },
      { traceId: TRACE, id: '0000000000000002', kind: 'CLIENT', localEndpoint: frontend, parentId: '0000000000000001', timestamp: T0 + 1 },
      { traceId: TRACE, id: '0000000000000002', kind: 'SERVER', name: 'get /api', timestamp: T0 + 2, localEndpoint: { serviceName: 'backend' } },
      { traceId: TRACE, id: '0000000000000001', name: 'root', timestamp: T0 },
    ]);
    assert.deepEqual(merged.map((s) => [s.name, s.kind, s.shared, s.localEndpoint?.serviceName]), [
      ['root', undefined, undefined, undefined],
      [undefined, 'CLIENT', undefined, 'frontend'],
      ['get /api', 'SERVER', true, 'backend'],
    ]);
  });

  test('pads short ids and keeps the 128-bit form of a trace id reported both ways', () => {
    const merged = mergeSpans([
      { traceId: 'ffdc9bb9a6453df3', id: 'a', name: 'root', timestamp: T0 },
      { traceId: TRACE, id: 'b', parentId: 'a', name: 'child', timestamp: T0 + 1 },
    ]);
    assert.deepEqual(merged.map((s) => [s.traceId, s.id, s.parentId]), [
      [TRACE, '000000000000000a', undefined],
      [TRACE, '000000000000000b', '000000000000000a'],
    ]);
  });

  test('a local span under a shared server hangs under that server, not under the client', () => {
    const root = buildSpanTree(rpc({ serverStart: 20 }));
    const server = root.children[0]!.children[0]!;
    assert.equal(server.span?.shared, true);
    assert.equal(server.children[0]?.span?.name, 'select');
  });

  test('a trace without a root span gets a synthetic one', () => {
    const root = buildSpanTree(rpc({ serverStart: 20 }).slice(1));
    assert.equal(root.span, undefined);
    assert.deepEqual(root.children.map((node) => [node.span?.kind, node.orphan]), [['CLIENT', true]]);
  });

  test('a chain 5,000 spans deep neither overflows the stack nor takes long', () => {
    const spans: Span[] = Array.from({ length: 5_000 }, (_, i) => ({
      traceId: TRACE,
      id: (i + 1).toString(16).padStart(16, '0'),
      ...(i > 0 ? { parentId: i.toString(16).padStart(16, '0') } : {}),
      kind: i % 2 ? 'SERVER' : 'CLIENT',
      name: `hop ${i}`,
      timestamp: T0 + i,
      duration: 10_000 - i,
      localEndpoint: { serviceName: `s${i % 7}`, ipv4: `10.0.0.${i % 7}` },
    }));
    const rows = traceRows(shapeTrace(spans));
    assert.equal(rows.length, 5_000);
    assert.equal(rows.at(-1)?.depth, 4_999);
    assert.equal(rows[0]?.descendants, 4_999);
  });
});

describe('summarizeTrace', () => {
  test('names the root, counts spans per service and errors, and measures the corrected trace', () => {
    const spans = rpc({ serverStart: -20 });
    spans[3]!.tags = { error: 'timeout' };
    assert.deepEqual(summarizeTrace(spans), {
      traceId: TRACE,
      rootServiceName: 'frontend',
      rootSpanName: 'get /',
      timestamp: T0,
      duration: 100,
      spanCount: 4,
      services: [{ serviceName: 'frontend', spanCount: 2 }, { serviceName: 'backend', spanCount: 2 }],
      errorCount: 1,
    });
    assert.equal(summarizeTrace([]), undefined);
  });

  test('walks breadth first', () => {
    assert.deepEqual([...walk(buildSpanTree(rpc({ serverStart: 20 })))].map((s) => s.name), ['get /', 'get /api', 'get /api', 'select']);
  });
});

test('formatDuration writes durations as Zipkin does', () => {
  assert.deepEqual([0, 850, 12_000, 12_345, 1_500_000].map(formatDuration), ['0ms', '850μs', '12ms', '12.345ms', '1.500s']);
});
