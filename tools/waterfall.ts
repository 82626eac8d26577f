/**
 * Renders one Zipkin trace as a text waterfall: one row per span in tree order (children under
 * their parent, by start time), with start offset, duration and a timeline bar per span.
 * Annotations and the `error` tag are listed under their span.
 */
import type { Span } from './collector/span.ts';

export interface WaterfallOptions {
  /** Columns available; the timeline bar takes what the text columns leave. */
  width?: number;
  /** ANSI colors for terminals: errors red, bars cyan, details dim. */
  color?: boolean;
  /** List every tag under its span, not only `error`. */
  showTags?: boolean;
}

export interface WaterfallRow {
  span: Span;
  depth: number;
  /** The span's parentId names a span that is not in the trace; shown at top level. */
  orphan: boolean;
  /** Microseconds from the trace start; undefined when the span has no timestamp. */
  offset?: number;
}

interface SpanNode {
  span: Span;
  children: SpanNode[];
  parent?: SpanNode;
}

interface TraceBounds {
  start: number;
  /** Microseconds, at least 1 so bars can always be scaled. */
  duration: number;
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
  const rows = waterfallRows(spans);
  const bounds = traceBounds(spans);
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

  const traceIds = [...new Set(spans.map((span) => span.traceId))];
  const services = new Set(spans.map((span) => span.localEndpoint?.serviceName).filter(Boolean));
  const output = [
    paint(ANSI.bold, `Trace ${traceIds.join(', ')}`),
    `Total ${formatMs(bounds.duration)} ms · ${plural(spans.length, 'span')} · ${plural(services.size, 'service')}`,
    '',
    line('SPAN', 'KIND', 'START ms', 'DUR ms', 'TIMELINE'),
  ];

  rows.forEach((row, index) => {
    const { span, depth, offset } = row;
    const isError = hasError(span);
    const bar = spanBar(span, bounds, barWidth);
    const text = line(
      labels[index] ?? '',
      span.kind ?? '',
      offset === undefined ? '?' : formatMs(offset),
      span.duration === undefined ? '?' : formatMs(span.duration),
      `|${isError ? bar : paint(ANSI.cyan, bar)}|`,
    );
    output.push(isError ? paint(ANSI.red, text) : text);

    const detailIndent = '  '.repeat(depth + 1);
    for (const annotation of span.annotations ?? []) {
      const at = annotation.timestamp - bounds.start;
      const marker = markerBar(at, bounds, barWidth);
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
 * Orders spans as a tree: top-level spans (roots and orphans) by start time, each followed by
 * its descendants depth-first, siblings by start time.
 */
export function waterfallRows(spans: readonly Span[]): WaterfallRow[] {
  const bounds = traceBounds(spans);
  const nodes: SpanNode[] = spans.map((span) => ({ span, children: [] }));
  const byId = new Map<string, SpanNode[]>();
  for (const node of nodes) {
    const sameId = byId.get(node.span.id);
    if (sameId) sameId.push(node);
    else byId.set(node.span.id, [node]);
  }

  // A shared span is the server half of its client's span id: the client is its parent.
  // Other children prefer the half of their parent id that ran in their own service.
  const findParent = (node: SpanNode): SpanNode | undefined => {
    const { span } = node;
    const others = (id: string) => (byId.get(id) ?? []).filter((candidate) => candidate !== node);
    if (span.shared) {
      const client = others(span.id).find((candidate) => !candidate.span.shared);
      if (client) return client;
    }
    if (span.parentId === undefined) return undefined;
    const candidates = others(span.parentId);
    const service = span.localEndpoint?.serviceName;
    return (
      candidates.find((c) => c.span.shared && c.span.localEndpoint?.serviceName === service) ??
        candidates.find((c) => !c.span.shared) ??
        candidates[0]
    );
  };
  for (const node of nodes) {
    node.parent = findParent(node);
    node.parent?.children.push(node);
  }

  const rows: WaterfallRow[] = [];
  const visited = new Set<SpanNode>();
  const visit = (node: SpanNode, depth: number, orphan: boolean) => {
    if (visited.has(node)) return;
    visited.add(node);
    const { timestamp } = node.span;
    rows.push({
      span: node.span,
      depth,
      orphan,
      offset: timestamp === undefined ? undefined : timestamp - bounds.start,
    });
    for (const child of byStart(node.children)) visit(child, depth + 1, false);
  };
  const isOrphan = (node: SpanNode) => node.parent === undefined && node.span.parentId !== undefined;
  for (const node of byStart(nodes.filter((n) => n.parent === undefined))) visit(node, 0, isOrphan(node));
  // Spans caught in a parent cycle are unreachable from any root: show them as orphans.
  for (const node of byStart(nodes)) visit(node, 0, true);
  return rows;
}

function byStart<T extends { span: Span }>(nodes: readonly T[]): T[] {
  const start = (node: T) => node.span.timestamp ?? Number.MAX_SAFE_INTEGER;
  // Client before server when a shared span id starts at the same instant.
  const sharedLast = (node: T) => (node.span.shared ? 1 : 0);
  return [...nodes].sort((a, b) => start(a) - start(b) || sharedLast(a) - sharedLast(b));
}

/** From the earliest span start or annotation to the latest span end or annotation. */
function traceBounds(spans: readonly Span[]): TraceBounds {
  let start = Infinity;
  let end = -Infinity;
  const include = (instant: number) => {
    start = Math.min(start, instant);
    end = Math.max(end, instant);
  };
  for (const span of spans) {
    if (span.timestamp !== undefined) {
      include(span.timestamp);
      include(span.timestamp + (span.duration ?? 0));
    }
    for (const annotation of span.annotations ?? []) include(annotation.timestamp);
  }
  return start === Infinity ? { start: 0, duration: 1 } : { start, duration: Math.max(1, end - start) };
}

function hasError(span: Span): boolean {
  return span.tags?.['error'] !== undefined;
}

function spanLabel({ span, depth, orphan }: WaterfallRow): string {
  const markers = `${orphan ? '[orphan] ' : ''}${hasError(span) ? '! ' : ''}`;
  const service = span.localEndpoint?.serviceName ?? '(unknown service)';
  return `${'  '.repeat(depth)}${markers}${service}: ${span.name ?? '(unnamed)'}`;
}

function spanBar(span: Span, bounds: TraceBounds, width: number): string {
  if (span.timestamp === undefined) return ' '.repeat(width);
  const from = column(span.timestamp - bounds.start, bounds, width);
  const to = Math.max(
    from + 1,
    Math.ceil(((span.timestamp - bounds.start + (span.duration ?? 0)) / bounds.duration) * width),
  );
  return ' '.repeat(from) + '█'.repeat(Math.min(width, to) - from) + ' '.repeat(Math.max(0, width - to));
}

function markerBar(offset: number, bounds: TraceBounds, width: number): string {
  const at = column(offset, bounds, width);
  return `${' '.repeat(at)}◆${' '.repeat(width - at - 1)}`;
}

/** The bar cell an instant falls in, kept inside the bar. */
function column(offset: number, bounds: TraceBounds, width: number): number {
  return Math.min(width - 1, Math.max(0, Math.floor((offset / bounds.duration) * width)));
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
