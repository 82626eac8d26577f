/**
 * The Zipkin v2 span model (see zipkin2-api.yaml), and the clean-up and merge rules the collector
 * applies so that spans read back the way a Zipkin server would return them.
 */
import { parseTraceparent } from '../../lib/tracing/propagation.ts';

export type SpanKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';

export interface Endpoint {
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  port?: number;
}

export interface Annotation {
  /** Epoch microseconds. */
  timestamp: number;
  value: string;
}

export interface Span {
  traceId: string;
  parentId?: string;
  id: string;
  kind?: SpanKind;
  name?: string;
  /** Epoch microseconds. */
  timestamp?: number;
  /** Microseconds. */
  duration?: number;
  localEndpoint?: Endpoint;
  remoteEndpoint?: Endpoint;
  annotations?: Annotation[];
  tags?: Record<string, string>;
  debug?: boolean;
  shared?: boolean;
}

/** The lower 64 bits of a trace id: what a 64-bit lookup of a 128-bit trace matches on. */
export function lowTraceId(traceId: string): string {
  return traceId.length === 32 ? traceId.slice(16) : traceId;
}

/** A 128-bit id whose high half is zero is the same trace as its 64-bit form (Zipkin stores the short one). */
export function normalizeTraceId(traceId: string): string {
  const lower = traceId.toLowerCase();
  return lower.length === 32 && lower.startsWith('0000000000000000') ? lower.slice(16) : lower;
}

/**
 * The trace id in what a person pastes: a trace id (16 or 32 hex characters) or a whole W3C
 * `traceresponse` or `traceparent` value (`00-<trace id>-<span id>-<flags>`, W3C Trace Context),
 * with or without its header name. Undefined when it holds neither.
 */
export function traceIdFromInput(input: string): string | undefined {
  const text = input.trim().replace(/^(?:traceresponse|traceparent)\s*:\s*/i, '');
  if (/^(?:[0-9a-f]{16}|[0-9a-f]{32})$/i.test(text) && !isAllZeros(text)) return normalizeTraceId(text);
  const context = parseTraceparent(text.toLowerCase());
  return context ? normalizeTraceId(context.traceId) : undefined;
}

export function isAllZeros(hexId: string): boolean {
  return /^0+$/.test(hexId);
}

/**
 * Canonical form of a span that already passed schema validation. Like Zipkin's model: names are
 * lowercase, empty values and unknown fields are dropped, a self-referencing or all-zero parentId
 * is removed, `shared` is dropped from CLIENT spans, and annotations are sorted and de-duplicated.
 */
export function normalizeSpan(input: Span): Span {
  const parentId = input.parentId === undefined || input.parentId === input.id || isAllZeros(input.parentId)
    ? undefined
    : input.parentId;
  return compact({
    traceId: normalizeTraceId(input.traceId),
    parentId,
    id: input.id,
    kind: input.kind,
    name: input.name ? input.name.toLowerCase() : undefined,
    timestamp: input.timestamp !== undefined && input.timestamp > 0 ? input.timestamp : undefined,
    duration: input.duration,
    localEndpoint: normalizeEndpoint(input.localEndpoint),
    remoteEndpoint: normalizeEndpoint(input.remoteEndpoint),
    annotations: sortAnnotations(input.annotations ?? []),
    tags: input.tags && Object.keys(input.tags).length > 0 ? { ...input.tags } : undefined,
    debug: input.debug === true ? true : undefined,
    shared: input.shared === true && input.kind !== 'CLIENT' ? true : undefined,
  });
}

/**
 * Whether `later` is another piece of the same span as `first` (reported in parts, e.g. a late
 * annotation): same trace, id and shared flag, and no conflicting local endpoint — a client and
 * the server it calls may share an id but never a shared flag.
 */
export function isSameSpanPiece(first: Span, later: Span): boolean {
  return (
    first.traceId === later.traceId &&
    first.id === later.id &&
    (first.shared === true) === (later.shared === true) &&
    endpointsAgree(first.localEndpoint, later.localEndpoint)
  );
}

/**
 * Merges two pieces of one span as Zipkin does: annotations and tags are unioned (a later tag
 * value wins), every other field keeps the first non-empty value, endpoints merge field by field.
 */
export function mergeSpanPieces(first: Span, later: Span): Span {
  const tags = first.tags || later.tags ? { ...first.tags, ...later.tags } : undefined;
  return compact({
    traceId: first.traceId,
    parentId: first.parentId ?? later.parentId,
    id: first.id,
    kind: first.kind ?? later.kind,
    name: first.name ?? later.name,
    timestamp: first.timestamp ?? later.timestamp,
    duration: first.duration ?? later.duration,
    localEndpoint: mergeEndpoints(first.localEndpoint, later.localEndpoint),
    remoteEndpoint: mergeEndpoints(first.remoteEndpoint, later.remoteEndpoint),
    annotations: sortAnnotations([...(first.annotations ?? []), ...(later.annotations ?? [])]),
    tags,
    debug: first.debug || later.debug ? true : undefined,
    shared: first.shared || later.shared ? true : undefined,
  });
}

function normalizeEndpoint(input: Endpoint | undefined): Endpoint | undefined {
  if (!input) return undefined;
  const endpoint = compact({
    serviceName: input.serviceName ? input.serviceName.toLowerCase() : undefined,
    ipv4: input.ipv4 || undefined,
    ipv6: input.ipv6 || undefined,
    port: input.port ? input.port : undefined,
  });
  return Object.keys(endpoint).length > 0 ? endpoint : undefined;
}

function endpointsAgree(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  if (!a || !b) return true;
  const agree = <T>(x: T | undefined, y: T | undefined) => x === undefined || y === undefined || x === y;
  return (
    agree(a.serviceName, b.serviceName) &&
    agree(a.ipv4, b.ipv4) &&
    agree(a.ipv6, b.ipv6) &&
    agree(a.port, b.port)
  );
}

function mergeEndpoints(first: Endpoint | undefined, later: Endpoint | undefined): Endpoint | undefined {
  if (!first || !later) return first ?? later;
  return compact({
    serviceName: first.serviceName ?? later.serviceName,
    ipv4: first.ipv4 ?? later.ipv4,
    ipv6: first.ipv6 ?? later.ipv6,
    port: first.port ?? later.port,
  });
}

function sortAnnotations(annotations: readonly Annotation[]): Annotation[] | undefined {
  if (annotations.length === 0) return undefined;
  const unique = new Map<string, Annotation>();
  for (const { timestamp, value } of annotations) unique.set(`${timestamp} ${value}`, { timestamp, value });
  return [...unique.values()].sort(
    (a, b) => a.timestamp - b.timestamp || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
  );
}

/** Drops undefined fields so stored spans serialize and compare like Zipkin's JSON. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
