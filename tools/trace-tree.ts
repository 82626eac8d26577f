/**
 * Shaping one Zipkin trace for people, with the rules of Zipkin's own UI (zipkin-lens:
 * `span-cleaner.js`, `span-node.js`, `clock-skew.js`, `trace.js`, after zipkin2.internal's
 * `Trace` and `SpanNode`): the pieces of a span merged, the span tree, clock skew corrected, and
 * the trace's summary. The web view and `npm run trace` both read traces through this module.
 */
import type { Annotation, Endpoint, Span } from './collector/span.ts';

/** One node of the span tree. The root has no span when the trace is headless (no root span). */
export interface SpanNode {
  span?: Span;
  parent?: SpanNode;
  children: SpanNode[];
  /** The span names a parent that is not in the trace; it hangs under the root instead. */
  orphan: boolean;
}

/** A trace ready to show: its tree (skew corrected) and the time it spans. */
export interface ShapedTrace {
  traceId: string;
  root: SpanNode;
  /** Spans in the tree, pieces of one span counted once. */
  spanCount: number;
  /** Epoch microseconds: the earliest span start or annotation. */
  start: number;
  /** Microseconds from `start` to the latest span end or annotation; at least 1. */
  duration: number;
}

/** One line of a waterfall: a span with its depth and place on the time axis. */
export interface TraceRow {
  span: Span;
  depth: number;
  orphan: boolean;
  /** Rows below this one that belong to its subtree (what collapsing it hides). */
  descendants: number;
  /** Microseconds from the trace start; undefined when the span has no timestamp. */
  offset?: number;
}

/** What a list of traces shows per trace (Zipkin's `traceSummary`). */
export interface TraceSummary {
  traceId: string;
  rootServiceName: string;
  rootSpanName: string;
  /** Epoch microseconds. */
  timestamp: number;
  /** Microseconds. */
  duration: number;
  spanCount: number;
  /** Spans per service name (local, and remote services seen only as a remote endpoint), most first. */
  services: { serviceName: string; spanCount: number }[];
  /** Spans tagged `error`. */
  errorCount: number;
}

/**
 * Merges what Zipkin treats as one span: pieces reported separately (same id and shared flag,
 * endpoints that do not conflict) are merged, a missing `shared` flag on a server answering a
 * client with the same id is filled in, ids are padded and the longest trace id is kept.
 * Returns new objects, root spans first, then by start time (lens `mergeV2ById`).
 */
export function mergeSpans(spans: readonly Span[]): Span[] {
  const cleaned = spans.map(cleanSpan);
  const traceId = cleaned.reduce((longest, span) => (span.traceId.length > longest.length ? span.traceId : longest), '');
  cleaned.sort((a, b) => compare(a.id, b.id) || compareShared(a, b) || compareEndpoints(a.localEndpoint, b.localEndpoint));

  const merged: Span[] = [];
  for (let i = 0; i < cleaned.length; i++) {
    let span: Span = { ...cleaned[i]!, traceId };
    const endpoint: Endpoint = { ...span.localEndpoint };
    while (i + 1 < cleaned.length) {
      const next = cleaned[i + 1]!;
      if (next.id !== span.id || Boolean(next.shared) !== Boolean(span.shared) || !absorbEndpoint(endpoint, next.localEndpoint)) break;
      span = mergePieces(span, next);
      i++;
    }
    const last = merged.at(-1);
    if (last?.id === span.id) {
      // Some instrumentation forgets the shared flag on the server half of a client's span id.
      if (last.kind === 'CLIENT' && span.kind === 'SERVER' && !span.shared) span.shared = true;
      // A shared server span that was not told its parent id takes its client's.
      if (span.shared && span.parentId === undefined && last.parentId !== undefined) span.parentId = last.parentId;
    }
    merged.push(span);
  }
  merged.sort(rootFirstThenByStart);
  const [first, second] = merged;
  // A lone root marked shared is a server whose client was not traced.
  if (first && first.parentId === undefined && first.shared && (!second || second.parentId !== undefined)) {
    delete first.shared;
  }
  return merged;
}

/**
 * Builds the span tree of one trace from its spans (merged first). A shared server span is the
 * child of the client with its id; other spans are children of their parent id, preferring a
 * shared server span on their own endpoint. Spans whose parent is missing, further roots, and
 * spans caught in a parent cycle hang under the root; without any root span, the root is
 * synthetic (no span). Children are ordered by start time, spans without one last.
 */
export function buildSpanTree(spans: readonly Span[]): SpanNode {
  const merged = mergeSpans(spans);
  const sharedKeys = new Set(merged.filter((span) => span.shared).map((span) => nodeKey(span.id, span.localEndpoint)));

  let root: SpanNode | undefined;
  // The client of a shared span is found by id alone; a shared server by id and endpoint.
  const nodes = new Map<string, SpanNode>();
  const placed: { node: SpanNode; parentKey: string | undefined }[] = [];
  for (const span of merged) {
    const node: SpanNode = { span, children: [], orphan: false };
    let parentKey: string | undefined;
    if (span.shared) {
      parentKey = span.id;
    } else if (span.parentId !== undefined) {
      // A local span under a shared server span on the same endpoint is the most specific case.
      const sharedParent = nodeKey(span.parentId, span.localEndpoint);
      parentKey = sharedKeys.has(sharedParent) ? sharedParent : span.parentId;
    }
    nodes.set(span.shared ? nodeKey(span.id, span.localEndpoint) : span.id, node);
    if (parentKey === undefined && !root) root = node;
    else placed.push({ node, parentKey });
  }

  const top: SpanNode = root ?? { children: [], orphan: false };
  for (const { node, parentKey } of placed) {
    const parent = parentKey === undefined ? undefined : nodes.get(parentKey);
    if (parent && parent !== node && !isAncestor(node, parent)) {
      attach(parent, node);
    } else {
      node.orphan = node.span?.parentId !== undefined;
      attach(top, node);
    }
  }
  sortChildren(top);
  return top;
}

/**
 * Corrects clock skew in place, as Zipkin's UI does (lens `clock-skew.js`): where a SERVER span
 * starts before the CLIENT span that called it, on another host (ip address), the server's host
 * is assumed to be skewed by what the RPC reveals: half the difference of client and server
 * durations is taken as network latency each way (or, when one side has no duration or the client
 * ended first, the server is placed 1µs after the client). That server span, its annotations, and
 * every span below it on the same host are shifted by the skew. Nothing is corrected when the
 * trace has no root span or more than one.
 */
export function correctForClockSkew(root: SpanNode): SpanNode {
  if (!root.span) return root;
  if (root.children.some(({ span }) => span && span.parentId === undefined && !span.shared)) return root;
  adjust(root, undefined);
  return root;
}

/** Merges, builds the tree, corrects clock skew and measures the trace. */
export function shapeTrace(spans: readonly Span[]): ShapedTrace {
  const root = correctForClockSkew(buildSpanTree(spans));
  let start = Infinity;
  let end = -Infinity;
  let spanCount = 0;
  let traceId = '';
  const include = (instant: number) => {
    if (instant < start) start = instant;
    if (instant > end) end = instant;
  };
  for (const span of walk(root)) {
    spanCount++;
    traceId = span.traceId;
    if (span.timestamp !== undefined) {
      include(span.timestamp);
      include(span.timestamp + (span.duration ?? 0));
    }
    for (const annotation of span.annotations ?? []) include(annotation.timestamp);
  }
  if (start === Infinity) return { traceId, root, spanCount, start: 0, duration: 1 };
  return { traceId, root, spanCount, start, duration: Math.max(1, end - start) };
}

/** The spans of a shaped trace as waterfall rows, depth first. */
export function traceRows(trace: ShapedTrace): TraceRow[] {
  const rows: TraceRow[] = [];
  // Iterative, so traces thousands of spans deep do not overflow the stack; a row's descendants
  // are counted when the walk leaves its subtree.
  const stack: { node: SpanNode; depth: number; row?: TraceRow; leaving?: number }[] = [{ node: trace.root, depth: -1 }];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    if (entry.leaving !== undefined) {
      entry.row!.descendants = rows.length - entry.leaving;
      continue;
    }
    const { node } = entry;
    let depth = entry.depth;
    if (node.span) {
      depth++;
      const { span } = node;
      const row: TraceRow = {
        span,
        depth,
        orphan: node.orphan,
        descendants: 0,
        offset: span.timestamp === undefined ? undefined : span.timestamp - trace.start,
      };
      rows.push(row);
      stack.push({ node, depth, row, leaving: rows.length });
    }
    for (let i = node.children.length - 1; i >= 0; i--) stack.push({ node: node.children[i]!, depth });
  }
  return rows;
}

/** The summary a trace list shows (lens `traceSummary`), from a trace's spans; undefined when it has none. */
export function summarizeTrace(spans: readonly Span[]): TraceSummary | undefined {
  if (spans.length === 0) return undefined;
  const trace = shapeTrace(spans);
  const rootSpan = trace.root.span ?? trace.root.children[0]?.span;
  const counts = new Map<string, { spanCount: number; longest: number }>();
  let errorCount = 0;
  for (const span of walk(trace.root)) {
    if (isError(span)) errorCount++;
    for (const serviceName of new Set([span.localEndpoint?.serviceName, span.remoteEndpoint?.serviceName])) {
      if (!serviceName) continue;
      const entry = counts.get(serviceName) ?? { spanCount: 0, longest: 0 };
      entry.spanCount++;
      entry.longest = Math.max(entry.longest, span.duration ?? 0);
      counts.set(serviceName, entry);
    }
  }
  const services = [...counts]
    .sort(([a, x], [b, y]) => y.longest - x.longest || compare(a, b))
    .map(([serviceName, { spanCount }]) => ({ serviceName, spanCount }));
  return {
    traceId: trace.traceId,
    rootServiceName: rootSpan?.localEndpoint?.serviceName ?? rootSpan?.remoteEndpoint?.serviceName ?? 'unknown',
    rootSpanName: rootSpan?.name ?? 'unknown',
    timestamp: trace.start,
    duration: trace.duration,
    spanCount: trace.spanCount,
    services,
    errorCount,
  };
}

/** Spans of a tree, breadth first (the order Zipkin's SpanNode.traverse visits them). */
export function* walk(root: SpanNode): Generator<Span> {
  const queue = [root];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    if (node.span) yield node.span;
    queue.push(...node.children);
  }
}

/** Zipkin marks a span failed by its `error` tag. */
export function isError(span: Span): boolean {
  return span.tags?.['error'] !== undefined;
}

/**
 * A duration as Zipkin's UI writes it (lens `mkDurationStr`): `850μs`, `12ms`, `12.345ms`, `1.500s`.
 * Microseconds in.
 */
export function formatDuration(microseconds: number): string {
  if (microseconds === 0) return '0ms';
  if (microseconds < 1000) return `${microseconds.toFixed(0)}μs`;
  if (microseconds < 1_000_000) {
    return microseconds % 1000 === 0 ? `${microseconds / 1000}ms` : `${(microseconds / 1000).toFixed(3)}ms`;
  }
  return `${(microseconds / 1_000_000).toFixed(3)}s`;
}

/** Epoch microseconds as local date and time to the millisecond, e.g. `2024-05-01 12:34:56.789`. */
export function formatTimestamp(microseconds: number): string {
  const date = new Date(microseconds / 1000);
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

// --- merging -------------------------------------------------------------------------------

function padId(id: string): string {
  return id.padStart(16, '0');
}

function cleanSpan(input: Span): Span {
  const id = padId(input.id);
  const parentId = input.parentId === undefined ? undefined : padId(input.parentId);
  const span: Span = {
    traceId: normalizeTraceId(input.traceId),
    ...(parentId !== undefined && parentId !== id ? { parentId } : {}),
    id,
  };
  if (input.name && input.name !== 'unknown') span.name = input.name;
  if (input.kind) span.kind = input.kind;
  if (input.timestamp) span.timestamp = input.timestamp;
  if (input.duration) span.duration = input.duration;
  if (input.localEndpoint && Object.keys(input.localEndpoint).length > 0) span.localEndpoint = { ...input.localEndpoint };
  if (input.remoteEndpoint && Object.keys(input.remoteEndpoint).length > 0) span.remoteEndpoint = { ...input.remoteEndpoint };
  if (input.annotations?.length) span.annotations = unionAnnotations(input.annotations, []);
  if (input.tags && Object.keys(input.tags).length > 0) span.tags = { ...input.tags };
  if (input.debug) span.debug = true;
  if (input.shared && input.kind !== 'CLIENT') span.shared = true;
  return span;
}

function normalizeTraceId(traceId: string): string {
  const id = traceId.toLowerCase();
  if (id.length <= 16) return id.padStart(16, '0');
  const padded = id.padStart(32, '0');
  return padded.startsWith('0000000000000000') ? padded.slice(16) : padded;
}

function mergePieces(left: Span, right: Span): Span {
  const span: Span = {
    traceId: left.traceId,
    ...(left.parentId ?? right.parentId ? { parentId: left.parentId ?? right.parentId } : {}),
    id: left.id,
  };
  const name = left.name ?? right.name;
  if (name) span.name = name;
  const kind = left.kind ?? right.kind;
  if (kind) span.kind = kind;
  const timestamp = left.timestamp ?? right.timestamp;
  if (timestamp) span.timestamp = timestamp;
  const duration = left.duration ?? right.duration;
  if (duration) span.duration = duration;
  const localEndpoint = { ...left.localEndpoint, ...right.localEndpoint };
  if (Object.keys(localEndpoint).length > 0) span.localEndpoint = localEndpoint;
  const remoteEndpoint = { ...left.remoteEndpoint, ...right.remoteEndpoint };
  if (Object.keys(remoteEndpoint).length > 0) span.remoteEndpoint = remoteEndpoint;
  const annotations = unionAnnotations(left.annotations ?? [], right.annotations ?? []);
  if (annotations.length > 0) span.annotations = annotations;
  const tags = { ...left.tags, ...right.tags };
  if (Object.keys(tags).length > 0) span.tags = tags;
  if (left.debug || right.debug) span.debug = true;
  if (left.shared || right.shared) span.shared = true;
  return span;
}

function unionAnnotations(left: readonly Annotation[], right: readonly Annotation[]): Annotation[] {
  const unique = new Map<string, Annotation>();
  for (const { timestamp, value } of [...left, ...right]) unique.set(`${timestamp} ${value}`, { timestamp, value });
  return [...unique.values()].sort((a, b) => a.timestamp - b.timestamp || compare(a.value, b.value));
}

/** Takes the next piece's endpoint into `current` unless a field conflicts (lens `tryMerge`). */
function absorbEndpoint(current: Endpoint, next: Endpoint | undefined): boolean {
  if (!next) return true;
  const fields = ['serviceName', 'ipv4', 'ipv6', 'port'] as const;
  if (fields.some((field) => current[field] && next[field] && current[field] !== next[field])) return false;
  for (const field of fields) if (!current[field] && next[field]) Object.assign(current, { [field]: next[field] });
  return true;
}

/** Compares possibly missing values, missing first (lens `compare`). */
function compare<T extends string | number>(a: T | undefined, b: T | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Client (unshared) first. */
function compareShared(left: Span, right: Span): number {
  if (!left.shared && !right.shared) return left.kind === 'CLIENT' ? -1 : right.kind === 'CLIENT' ? 1 : 0;
  if (!left.shared) return -1;
  if (!right.shared) return 1;
  return 0;
}

function compareEndpoints(left: Endpoint | undefined, right: Endpoint | undefined): number {
  if (!left) return right ? -1 : 0;
  if (!right) return 1;
  return compare(left.serviceName, right.serviceName) || compare(left.ipv4, right.ipv4) || compare(left.ipv6, right.ipv6);
}

function rootFirstThenByStart(a: Span, b: Span): number {
  if (a.parentId === undefined && b.parentId !== undefined) return -1;
  if (a.parentId !== undefined && b.parentId === undefined) return 1;
  if (a.id === b.id) return compareShared(a, b);
  return compare(a.timestamp, b.timestamp) || compare(a.name, b.name);
}

// --- the tree ------------------------------------------------------------------------------

/** A shared span is told apart from others with its id by its endpoint (several servers may answer one id). */
function nodeKey(id: string, endpoint: Endpoint | undefined): string {
  return `${id}-shared-${endpoint?.serviceName ?? ''}|${endpoint?.ipv4 ?? ''}|${endpoint?.ipv6 ?? ''}|${endpoint?.port ?? ''}`;
}

function attach(parent: SpanNode, child: SpanNode): void {
  child.parent = parent;
  parent.children.push(child);
}

function isAncestor(candidate: SpanNode, node: SpanNode): boolean {
  for (let at: SpanNode | undefined = node; at; at = at.parent) if (at === candidate) return true;
  return false;
}

/** By start time, spans without one last; a client before the server sharing its id. */
function sortChildren(root: SpanNode): void {
  const start = (node: SpanNode) => node.span?.timestamp ?? Number.MAX_SAFE_INTEGER;
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    node.children.sort((a, b) => start(a) - start(b) || (a.span?.shared ? 1 : 0) - (b.span?.shared ? 1 : 0));
    stack.push(...node.children);
  }
}

// --- clock skew ----------------------------------------------------------------------------

interface ClockSkew {
  endpoint: Endpoint;
  /** Microseconds to subtract from the host's timestamps. */
  skew: number;
}

/** Whether two endpoints are the same host, by ip address (lens `ipsMatch`). */
function ipsMatch(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  if (!a || !b) return false;
  if (a.ipv6 && b.ipv6 && a.ipv6 === b.ipv6) return true;
  if (!a.ipv4 && !b.ipv4) return false;
  return a.ipv4 === b.ipv4;
}

function adjustTimestamps(span: Span, { endpoint, skew }: ClockSkew): Span {
  if (!ipsMatch(endpoint, span.localEndpoint)) return span;
  const adjusted: Span = { ...span };
  if (span.timestamp) adjusted.timestamp = span.timestamp - skew;
  if (span.annotations) adjusted.annotations = span.annotations.map(({ timestamp, value }) => ({ timestamp: timestamp - skew, value }));
  return adjusted;
}

function getClockSkew(node: SpanNode): ClockSkew | undefined {
  const client = node.parent?.span;
  const server = node.span;
  if (!client || !server || client.kind !== 'CLIENT' || server.kind !== 'SERVER') return undefined;
  const clientStart = client.timestamp;
  const serverStart = server.timestamp;
  if (!clientStart || !serverStart || serverStart > clientStart) return undefined;
  const endpoint = server.localEndpoint;
  if (!endpoint || !client.localEndpoint || ipsMatch(endpoint, client.localEndpoint)) return undefined;

  const clientDuration = client.duration;
  const serverDuration = server.duration;
  if (!clientDuration || !serverDuration) {
    const latency = serverStart - clientStart;
    // Push the two apart by the smallest step: that is all one-way data tells.
    return latency > 0 ? undefined : { endpoint, skew: latency - 1 };
  }
  // The client ended first (async): the server still started after the client did.
  if (clientDuration < serverDuration) return { endpoint, skew: serverStart - clientStart - 1 };
  const latency = (clientDuration - serverDuration) / 2;
  const skew = serverStart - latency - clientStart;
  return skew !== 0 ? { endpoint, skew } : undefined;
}

function adjust(node: SpanNode, skewFromParent: ClockSkew | undefined): void {
  // Iterative, so traces thousands of spans deep do not overflow the stack.
  const stack: [SpanNode, ClockSkew | undefined][] = [[node, skewFromParent]];
  while (stack.length > 0) {
    const [current, inherited] = stack.pop()!;
    if (inherited && current.span) current.span = adjustTimestamps(current.span, inherited);
    let skew = getClockSkew(current);
    if (skew && current.span) current.span = adjustTimestamps(current.span, skew);
    else skew = inherited;
    for (const child of current.children) stack.push([child, skew]);
  }
}
