import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Span } from './collector/span.ts';
import { shapeTrace, summarizeTrace, traceRows } from './trace-tree.ts';
import { renderTraceList, renderWaterfall } from './waterfall.ts';

const waterfallRows = (spans: Span[]) => traceRows(shapeTrace(spans));

const TRACE = '4e441824ec2b6a44ffdc9bb9a6453df3';
const T0 = 1_700_000_000_000_000; // epoch microseconds

/**
 * frontend SERVER ─┬─ frontend CLIENT ── inventory SERVER (shared id) ── inventory select (error)
 *                  └─ frontend PRODUCER ── mailer CONSUMER
 * plus an auditor span whose parent was never reported. Listed out of order on purpose.
 */
const spans: Span[] = [
  {
    traceId: TRACE,
    parentId: '0000000000000004',
    id: '0000000000000005',
    kind: 'CONSUMER',
    name: 'consume order',
    timestamp: T0 + 14_000,
    duration: 6_000,
    localEndpoint: { serviceName: 'mailer' },
  },
  {
    traceId: TRACE,
    parentId: '0000000000000001',
    id: '0000000000000002',
    kind: 'SERVER',
    name: 'get /stock',
    timestamp: T0 + 1_500,
    duration: 9_000,
    localEndpoint: { serviceName: 'inventory' },
    annotations: [{ timestamp: T0 + 5_000, value: 'cache miss' }],
    shared: true,
  },
  {
    traceId: TRACE,
    id: '0000000000000001',
    kind: 'SERVER',
    name: 'post /checkout',
    timestamp: T0,
    duration: 20_000,
    localEndpoint: { serviceName: 'frontend' },
  },
  {
    traceId: TRACE,
    parentId: '00000000000000ff',
    id: '0000000000000006',
    name: 'audit',
    timestamp: T0 + 3_000,
    duration: 1_000,
    localEndpoint: { serviceName: 'auditor' },
  },
  {
    traceId: TRACE,
    parentId: '0000000000000002',
    id: '0000000000000003',
    name: 'select stock',
    timestamp: T0 + 2_000,
    duration: 6_000,
    localEndpoint: { serviceName: 'inventory' },
    tags: { error: 'timeout', 'db.system': 'sqlite' },
  },
  {
    traceId: TRACE,
    parentId: '0000000000000001',
    id: '0000000000000004',
    kind: 'PRODUCER',
    name: 'publish order',
    timestamp: T0 + 12_000,
    duration: 500,
    localEndpoint: { serviceName: 'frontend' },
  },
  {
    traceId: TRACE,
    parentId: '0000000000000001',
    id: '0000000000000002',
    kind: 'CLIENT',
    name: 'get /stock',
    timestamp: T0 + 1_000,
    duration: 10_000,
    localEndpoint: { serviceName: 'frontend' },
    remoteEndpoint: { serviceName: 'inventory' },
  },
];

const ESC = '\x1b';

describe('waterfallRows', () => {
  test('orders spans as a tree: children under parents by start time, orphans under the root', () => {
    const rows = waterfallRows(spans).map(({ span, depth, orphan, offset }) => ({
      span: `${span.localEndpoint?.serviceName} ${span.kind ?? 'LOCAL'} ${span.name}`,
      depth,
      orphan,
      offset,
    }));
    assert.deepEqual(rows, [
      { span: 'frontend SERVER post /checkout', depth: 0, orphan: false, offset: 0 },
      { span: 'frontend CLIENT get /stock', depth: 1, orphan: false, offset: 1_000 },
      { span: 'inventory SERVER get /stock', depth: 2, orphan: false, offset: 1_500 },
      { span: 'inventory LOCAL select stock', depth: 3, orphan: false, offset: 2_000 },
      { span: 'auditor LOCAL audit', depth: 1, orphan: true, offset: 3_000 },
      { span: 'frontend PRODUCER publish order', depth: 1, orphan: false, offset: 12_000 },
      { span: 'mailer CONSUMER consume order', depth: 2, orphan: false, offset: 14_000 },
    ]);
  });

  test('spans without a timestamp follow their timed siblings', () => {
    const untimed: Span = { traceId: TRACE, parentId: '0000000000000001', id: '0000000000000007', name: 'late' };
    const rows = waterfallRows([untimed, ...spans]);
    const children = rows.filter((row) => row.depth === 1).map((row) => row.span.name);
    assert.deepEqual(children, ['get /stock', 'audit', 'publish order', 'late']);
    assert.equal(rows.find((row) => row.span === untimed)?.offset, undefined);
  });

  test('spans in a parent cycle are still shown, once each', () => {
    const cycle: Span[] = [
      { traceId: TRACE, id: '000000000000000a', parentId: '000000000000000b', name: 'a', timestamp: T0 },
      { traceId: TRACE, id: '000000000000000b', parentId: '000000000000000a', name: 'b', timestamp: T0 + 1 },
    ];
    const rows = waterfallRows(cycle);
    assert.deepEqual(rows.map((row) => [row.span.name, row.depth, row.orphan]), [['b', 0, true], ['a', 1, false]]);
  });
});

describe('renderWaterfall', () => {
  test('prints the trace id, total duration, then one row per span with offsets and bars', () => {
    assert.equal(
      renderWaterfall(spans, { width: 100 }),
      [
        `Trace ${TRACE}`,
        'Total 20.000 ms · 7 spans · 4 services',
        '',
        'SPAN                            KIND      START ms    DUR ms TIMELINE',
        'frontend: post /checkout        SERVER       0.000    20.000 |█████████████████████████████████████|',
        '  frontend: get /stock          CLIENT       1.000    10.000 | ████████████████████                |',
        '    inventory: get /stock       SERVER       1.500     9.000 |  ██████████████████                 |',
        '      · cache miss                           5.000                     ◆',
        '      ! inventory: select stock              2.000     6.000 |   ████████████                      |',
        '        ! error=timeout',
        '  [orphan] auditor: audit                    3.000     1.000 |     ███                             |',
        '  frontend: publish order       PRODUCER    12.000     0.500 |                      ██             |',
        '    mailer: consume order       CONSUMER    14.000     6.000 |                         ████████████|',
      ].join('\n'),
    );
  });

  test('scales bars to the width it is given', () => {
    for (const width of [60, 80, 100, 160]) {
      const spanRows = renderWaterfall(spans, { width }).split('\n').filter((line) => line.endsWith('|'));
      assert.equal(spanRows.length, spans.length);
      for (const row of spanRows) assert.equal(row.length, width, row);
    }
  });

  test('truncates long labels rather than overflowing', () => {
    const long: Span = { ...spans[2]!, name: `get /${'very-long-path/'.repeat(10)}` };
    const [row] = renderWaterfall([long], { width: 80 }).split('\n').filter((line) => line.endsWith('|'));
    assert.equal(row?.length, 80);
    assert.match(row ?? '', /^frontend: get \/very-long-.*… SERVER /);
  });

  test('lists other tags only when asked', () => {
    assert.doesNotMatch(renderWaterfall(spans), /db\.system/);
    assert.match(renderWaterfall(spans, { showTags: true }), /^ {8}db\.system=sqlite$/m);
  });

  test('highlights errors in red when colored, and uses no escape codes otherwise', () => {
    const colored = renderWaterfall(spans, { color: true });
    assert.match(colored, new RegExp(`${ESC}\\[31m {6}! inventory: select stock`));
    assert.match(colored, new RegExp(`${ESC}\\[31m {8}! error=timeout`));
    assert.doesNotMatch(renderWaterfall(spans), new RegExp(ESC));
  });

  test('marks spans without a timestamp with ? instead of a bar', () => {
    const output = renderWaterfall([{ traceId: TRACE, id: '0000000000000001', name: 'pending' }], { width: 80 });
    assert.match(output, /\(unknown service\): pending\s+\?\s+\?\s+\| +\|$/m);
  });

  test('keeps one line per row when names or tags hold newlines or escape codes', () => {
    const span: Span = { ...spans[2]!, name: 'bad\nname', tags: { error: 'Error: boom\n    at handler\u001b[2J' } };
    const lines = renderWaterfall([span], { width: 100 }).split('\n');
    assert.equal(lines.length, 6);
    assert.match(lines[4] ?? '', /^! frontend: bad name SERVER/);
    assert.equal(lines[5], '  ! error=Error: boom at handler [2J');
  });

  test('says so when there is nothing to show', () => {
    assert.equal(renderWaterfall([]), 'No spans.');
  });
});

describe('renderTraceList', () => {
  const summary = summarizeTrace(spans)!;

  test('one line per trace under a header; cut to the width from the services column on', () => {
    const wide = renderTraceList([summary], { width: Infinity }).split('\n');
    assert.match(wide[1]!, new RegExp(`^${TRACE} \\S+ \\S+ +20ms +7 ! 1 error · frontend: post /checkout +frontend, inventory, mailer, auditor$`));
    const width = wide[1]!.length - 10;
    const narrow = renderTraceList([summary], { width }).split('\n');
    for (const line of narrow) assert.ok(line.length <= width, line);
    assert.match(narrow[1]!, /! 1 error · frontend: post \/checkout frontend, inventory, mail…$/);
  });
});
