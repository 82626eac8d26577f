/**
 * The `GET /api/v2/traces` search: parsing its query parameters and matching a trace against them,
 * with the semantics of Zipkin's QueryRequest.
 */
import type { Span } from './span.ts';

export interface TraceQuery {
  /** Local service that recorded the matching spans; constrains the span-level filters below. */
  serviceName?: string;
  remoteServiceName?: string;
  spanName?: string;
  /** Tag key → value ('' matches any value, or an annotation with that text). */
  annotationQuery?: ReadonlyMap<string, string>;
  /** Microseconds. */
  minDuration?: number;
  /** Microseconds. */
  maxDuration?: number;
  /** Epoch milliseconds. */
  endTs: number;
  /** Milliseconds before endTs. */
  lookback: number;
  limit: number;
}

export const DEFAULT_TRACE_LIMIT = 10;
/** Zipkin's QUERY_LOOKBACK default: one day, in milliseconds. */
export const DEFAULT_LOOKBACK_MS = 86_400_000;

export type Parsed<T> = { ok: true; query: T } | { ok: false; error: string };
export type TraceQueryParsing = Parsed<TraceQuery>;

/** Reads a request parameter; undefined when absent. */
export type ParamReader = (name: string) => string | undefined;

export interface QueryDefaults {
  /** Epoch milliseconds: the default endTs. */
  now?: number;
  /** Milliseconds: the default lookback (Zipkin's QUERY_LOOKBACK). */
  lookback?: number;
}

/**
 * Reads the `/api/v2/traces` query from request parameters, with the defaults and checks of
 * Zipkin's ZipkinQueryApiV2 and QueryRequest: endTs defaults to now and lookback to a day; limit,
 * endTs, lookback and minDuration must be positive; maxDuration needs minDuration and is not
 * below it.
 */
export function parseTraceQuery(param: ParamReader, defaults: QueryDefaults = {}): TraceQueryParsing {
  const integers = readIntegers(param, ['minDuration', 'maxDuration', 'endTs', 'lookback', 'limit']);
  if (!integers.ok) return integers;
  const { minDuration, maxDuration, limit = DEFAULT_TRACE_LIMIT } = integers.query;
  const window = timeWindow(integers.query, defaults);
  if (!window.ok) return window;
  if (limit < 1) return { ok: false, error: 'limit must be at least 1' };
  if (minDuration !== undefined && minDuration < 1) return { ok: false, error: 'minDuration must be at least 1 microsecond' };
  if (maxDuration !== undefined && minDuration === undefined) {
    return { ok: false, error: 'maxDuration is only valid with minDuration' };
  }
  if (maxDuration !== undefined && minDuration !== undefined && maxDuration < minDuration) {
    return { ok: false, error: 'maxDuration must not be below minDuration' };
  }

  const spanName = lowercaseOrUndefined(param('spanName'));
  return {
    ok: true,
    query: {
      serviceName: lowercaseOrUndefined(param('serviceName')),
      remoteServiceName: lowercaseOrUndefined(param('remoteServiceName')),
      // "all" is how older Zipkin UIs ask for no span-name filter.
      spanName: spanName === 'all' ? undefined : spanName,
      annotationQuery: parseAnnotationQuery(param('annotationQuery')),
      minDuration,
      maxDuration,
      ...window.query,
      limit,
    },
  };
}

/**
 * Reads the `/api/v2/dependencies` window: endTs is required there (epoch ms), lookback defaults
 * to a day; both must be positive.
 */
export function parseDependencyQuery(param: ParamReader, defaults: QueryDefaults = {}): Parsed<{ endTs: number; lookback: number }> {
  const integers = readIntegers(param, ['endTs', 'lookback']);
  if (!integers.ok) return integers;
  if (integers.query.endTs === undefined) return { ok: false, error: 'endTs is required (epoch milliseconds)' };
  return timeWindow(integers.query, defaults);
}

function readIntegers(param: ParamReader, names: readonly string[]): Parsed<Record<string, number | undefined>> {
  const integers: Record<string, number | undefined> = {};
  for (const name of names) {
    const text = param(name);
    if (text === undefined || text === '') continue;
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value)) return { ok: false, error: `${name} must be a non-negative integer` };
    integers[name] = value;
  }
  return { ok: true, query: integers };
}

function timeWindow(
  integers: Record<string, number | undefined>,
  { now = Date.now(), lookback: defaultLookback = DEFAULT_LOOKBACK_MS }: QueryDefaults,
): Parsed<{ endTs: number; lookback: number }> {
  const { endTs = now, lookback = defaultLookback } = integers;
  if (endTs < 1) return { ok: false, error: 'endTs must be at least 1 (epoch milliseconds)' };
  if (lookback < 1) return { ok: false, error: 'lookback must be at least 1 millisecond' };
  return { ok: true, query: { endTs, lookback } };
}

/** The time a trace is sorted and windowed by: its root span's start, else its earliest start. */
export function traceTimestamp(spans: readonly Span[]): number | undefined {
  let earliest: number | undefined;
  for (const span of spans) {
    if (span.timestamp === undefined) continue;
    if (span.parentId === undefined) return span.timestamp;
    if (earliest === undefined || span.timestamp < earliest) earliest = span.timestamp;
  }
  return earliest;
}

/** Whether one trace (spans sharing a trace id) satisfies the query. */
export function matchesTraceQuery(spans: readonly Span[], query: TraceQuery): boolean {
  const timestamp = traceTimestamp(spans);
  if (timestamp === undefined) return false;
  if (timestamp < (query.endTs - query.lookback) * 1000 || timestamp > query.endTs * 1000) return false;

  let serviceFound = query.serviceName === undefined;
  let remoteServiceFound = query.remoteServiceName === undefined;
  let spanNameFound = query.spanName === undefined;
  const { minDuration, maxDuration = Infinity } = query;
  let durationFound = minDuration === undefined;
  const remainingTerms = new Map(query.annotationQuery);

  for (const span of spans) {
    if (query.serviceName !== undefined && span.localEndpoint?.serviceName !== query.serviceName) continue;
    serviceFound = true;
    if (span.remoteEndpoint?.serviceName === query.remoteServiceName) remoteServiceFound = true;
    if (span.name === query.spanName) spanNameFound = true;
    if (!durationFound && minDuration !== undefined && span.duration !== undefined) {
      durationFound = span.duration >= minDuration && span.duration <= maxDuration;
    }
    for (const annotation of span.annotations ?? []) {
      if (remainingTerms.get(annotation.value) === '') remainingTerms.delete(annotation.value);
    }
    for (const [key, value] of Object.entries(span.tags ?? {})) {
      const wanted = remainingTerms.get(key);
      if (wanted === '' || wanted === value) remainingTerms.delete(key);
    }
  }
  return serviceFound && remoteServiceFound && spanNameFound && durationFound && remainingTerms.size === 0;
}

/** "http.path=/api and error" → { http.path: "/api", error: "" } */
function parseAnnotationQuery(text: string | undefined): ReadonlyMap<string, string> | undefined {
  if (!text?.trim()) return undefined;
  const terms = new Map<string, string>();
  for (const term of text.split(' and ')) {
    const equals = term.indexOf('=');
    if (equals === -1) terms.set(term.trim(), '');
    else terms.set(term.slice(0, equals).trim(), term.slice(equals + 1).trim());
  }
  terms.delete('');
  return terms;
}

function lowercaseOrUndefined(text: string | undefined): string | undefined {
  return text ? text.toLowerCase() : undefined;
}
