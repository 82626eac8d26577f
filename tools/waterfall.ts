/**
 * Renders one Zipkin trace as a text waterfall: one row per span in tree order (children under
 * their parent, by start time), with start offset, duration and a timeline bar per span, shaped
 * like Zipkin's UI shapes it (pieces merged, clock skew corrected; see trace-tree.ts).
 * Annotations and the `error` tag are listed under their span.
 */
import type { Span } from './collector/span.ts';
import {
  formatDuration,
  formatTimestamp,
  isError,
  shapeTrace,
  traceRows,
  type ShapedTrace,
  type TraceRow,
  type TraceSummary,
} from './trace-tree.ts';

export interface WaterfallOptions {
  /** Columns available; the timeline bar takes what the text columns leave. */
  width?: number;
  /** ANSI colors for terminals: errors red, bars cyan, details dim. */
  color?: boolean;
  /** List every tag under its span, not only `error`. */
  showTags?: boolean;
}

const KIND_WIDTH = 8;
const NUMBER_WIDTH = 9;
const MIN_LABEL_WIDTH = 12;
const MIN_BAR_WIDTH = 10;
const ANSI = { red: '\x1b[31m', cyan: '\x1b[36m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' };

export function renderWaterfall(
  spans: readonly Span[],
  { width = 100, color = false, showTags = false }: WaterfallOptions = {},
): string {
  if (spans.length === 0) return 'No spans.';
  const trace = shapeTrace(spans);
  const rows = traceRows(trace);
  const paint = (code: string, text: string) => (color ? `${code}${text}${ANSI.reset}` : text);

  const labels = rows.map(spanLabel);
  // Text columns: label, kind, start, duration, then the bar between two borders.
  const fixedWidth = KIND_WIDTH + 2 * NUMBER_WIDTH + 4 + 2;
  const available = Math.max(0, width - fixedWidth);
  const longestLabel = labels.reduce((longest, label) => Math.max(longest, label.length), 'SPAN'.length);
  const labelWidth = Math.max(MIN_LABEL_WIDTH, Math.min(longestLabel, Math.floor(available * 0.6)));
  const barWidth = Math.max(MIN_BAR_WIDTH, available - labelWidth);

  const line = (label: string, kind: string, start: string, duration: string, bar: string) =>
    [fit(label, labelWidth), fit(kind, KIND_WIDTH), start.padStart(NUMBER_WIDTH), duration.padStart(NUMBER_WIDTH), bar]
      .join(' ')
      .trimEnd();

  const services = new Set(rows.map(({ span }) => span.localEndpoint?.serviceName).filter(Boolean));
  const output = [
    paint(ANSI.bold, `Trace ${trace.traceId}`),
    `Total ${formatMs(trace.duration)} ms · ${plural(rows.length, 'span')} · ${plural(services.size, 'service')}`,
    '',
    line('SPAN', 'KIND', 'START ms', 'DUR ms', 'TIMELINE'),
  ];

  rows.forEach((row, index) => {
    const { span, depth, offset } = row;
    const failed = isError(span);
    const bar = spanBar(span, trace, barWidth);
    const text = line(
      labels[index] ?? '',
      span.kind ?? '',
      offset === undefined ? '?' : formatMs(offset),
      span.duration === undefined ? '?' : formatMs(span.duration),
      `|${failed ? bar : paint(ANSI.cyan, bar)}|`,
    );
    output.push(failed ? paint(ANSI.red, text) : text);

    const detailIndent = '  '.repeat(depth + 1);
    for (const annotation of span.annotations ?? []) {
      const at = annotation.timestamp - trace.start;
      const marker = markerBar(at, trace, barWidth);
      output.push(paint(ANSI.dim, line(`${detailIndent}· ${annotation.value}`, '', formatMs(at), '', ` ${marker} `)));
    }
    // Tags have no timing, so they may use the whole width.
    for (const [key, value] of Object.entries(span.tags ?? {})) {
      if (key === 'error') output.push(paint(ANSI.red, fit(`${detailIndent}! error=${value}`, width).trimEnd()));
      else if (showTags) output.push(paint(ANSI.dim, fit(`${detailIndent}${key}=${value}`, width).trimEnd()));
    }
  });
  return output.join('\n');
}

/**
 * Recent traces as a table for `npm run trace --list`, one line each in the order given: trace id,
 * start, duration, span count, root service and span, the services involved; failed traces red.
 * Lines longer than `width` have their root and services columns cut (Infinity: never cut).
 */
export function renderTraceList(
  traces: readonly TraceSummary[],
  { width = 100, color = false }: Pick<WaterfallOptions, 'width' | 'color'> = {},
): string {
  const rows = traces.map((trace) => ({
    trace,
    cells: [
      trace.traceId,
      formatTimestamp(trace.timestamp),
      formatDuration(trace.duration),
      String(trace.spanCount),
      `${trace.errorCount > 0 ? `! ${plural(trace.errorCount, 'error')} · ` : ''}${trace.rootServiceName}: ${trace.rootSpanName}`,
      trace.services.map(({ serviceName }) => serviceName).join(', '),
    ],
  }));
  const header = ['TRACE ID', 'START', 'DURATION', 'SPANS', 'ROOT', 'SERVICES'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map(({ cells }) => cells[column]!.length)));
  // Too wide: the services column gives way first, then the root's, each down to a readable minimum.
  let excess = widths.reduce((sum, columnWidth) => sum + columnWidth + 1, -1) - width;
  for (const column of [5, 4]) {
    const cut = Math.max(0, Math.min(excess, widths[column]! - MIN_LABEL_WIDTH));
    widths[column]! -= cut;
    excess -= cut;
  }
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column === 2 || column === 3 ? cell.padStart(widths[column]!) : fit(cell, widths[column]!))).join(' ').trimEnd();
  return [
    line(header),
    ...rows.map(({ trace, cells }) => (color && trace.errorCount > 0 ? `${ANSI.red}${line(cells)}${ANSI.reset}` : line(cells))),
  ].join('\n');
}

function spanLabel({ span, depth, orphan }: TraceRow): string {
  const markers = `${orphan ? '[orphan] ' : ''}${isError(span) ? '! ' : ''}`;
  const service = span.localEndpoint?.serviceName ?? '(unknown service)';
  return `${'  '.repeat(depth)}${markers}${service}: ${span.name ?? '(unnamed)'}`;
}

function spanBar(span: Span, trace: ShapedTrace, width: number): string {
  if (span.timestamp === undefined) return ' '.repeat(width);
  const from = column(span.timestamp - trace.start, trace, width);
  const to = Math.max(
    from + 1,
    Math.ceil(((span.timestamp - trace.start + (span.duration ?? 0)) / trace.duration) * width),
  );
  return ' '.repeat(from) + '█'.repeat(Math.min(width, to) - from) + ' '.repeat(Math.max(0, width - to));
}

function markerBar(offset: number, trace: ShapedTrace, width: number): string {
  const at = column(offset, trace, width);
  return `${' '.repeat(at)}◆${' '.repeat(width - at - 1)}`;
}

/** The bar cell an instant falls in, kept inside the bar. */
function column(offset: number, trace: ShapedTrace, width: number): number {
  return Math.min(width - 1, Math.max(0, Math.floor((offset / trace.duration) * width)));
}

function formatMs(microseconds: number): string {
  return (microseconds / 1000).toFixed(3);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Pads or cuts to exactly `width`; control characters (newlines in stack traces, escapes) become spaces. */
function fit(text: string, width: number): string {
  const printable = text.replace(/\s*[\u0000-\u001f\u007f]+\s*/g, ' ');
  return printable.length > width ? `${printable.slice(0, width - 1)}…` : printable.padEnd(width);
}
