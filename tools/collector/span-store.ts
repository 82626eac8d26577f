/**
 * In-memory span storage for the development collector. Bounded: once more than `maxSpans` spans
 * are held, whole traces are evicted, the one first seen longest ago first.
 */
import { isSameSpanPiece, lowTraceId, mergeSpanPieces, normalizeTraceId } from './span.ts';
import type { Span } from './span.ts';
import { matchesTraceQuery, traceTimestamp } from './trace-query.ts';
import type { TraceQuery } from './trace-query.ts';

export interface SpanStoreOptions {
  /** Most spans held at once. */
  maxSpans?: number;
}

export interface SpanStore {
  readonly maxSpans: number;
  /** Spans currently held (pieces of one span merged count once). */
  readonly spanCount: number;
  /** Stores already validated and normalized spans, merging pieces of spans seen before. */
  add(spans: readonly Span[]): void;
  /**
   * Spans of one trace, by start time; empty when unknown. A 16-hex id also matches 128-bit
   * traces whose low 64 bits equal it.
   */
  getTrace(traceId: string): Span[];
  /** Matching traces, newest first, at most `query.limit`. */
  getTraces(query: TraceQuery): Span[][];
  getServiceNames(): string[];
  getSpanNames(serviceName: string): string[];
  getRemoteServiceNames(serviceName: string): string[];
  /** Distinct values of one tag key, sorted. */
  getTagValues(key: string): string[];
  clear(): void;
}

export const DEFAULT_MAX_SPANS = 200_000;

/**
 * One entry per low 64-bit trace id, so 64-bit lookups find 128-bit traces directly. Within an
 * entry, spans are grouped by trace id + span id + shared flag, the identity of a span's pieces.
 */
interface TraceEntry {
  pieces: Map<string, Span[]>;
  spanCount: number;
}

export function createSpanStore({ maxSpans = DEFAULT_MAX_SPANS }: SpanStoreOptions = {}): SpanStore {
  if (!Number.isInteger(maxSpans) || maxSpans < 1) throw new RangeError('maxSpans must be a positive integer');
  // Map iteration follows insertion order, which makes the first entry the oldest trace.
  const traces = new Map<string, TraceEntry>();
  let spanCount = 0;

  function addOne(span: Span): void {
    const key = lowTraceId(span.traceId);
    let entry = traces.get(key);
    if (!entry) {
      entry = { pieces: new Map(), spanCount: 0 };
      traces.set(key, entry);
    }
    const pieceKey = `${span.traceId}/${span.id}/${span.shared === true}`;
    const candidates = entry.pieces.get(pieceKey) ?? [];
    const earlier = candidates.findIndex((stored) => isSameSpanPiece(stored, span));
    if (earlier >= 0) {
      candidates[earlier] = mergeSpanPieces(candidates[earlier]!, span);
    } else {
      candidates.push(span);
      entry.pieces.set(pieceKey, candidates);
      entry.spanCount++;
      spanCount++;
    }
  }

  function evictOldestTraces(): void {
    for (const [key, entry] of traces) {
      if (spanCount <= maxSpans) return;
      traces.delete(key);
      spanCount -= entry.spanCount;
    }
  }

  function* allSpans(): Generator<Span> {
    for (const entry of traces.values()) yield* spansOf(entry);
  }

  function distinct(pick: (span: Span) => string | undefined): string[] {
    const names = new Set<string>();
    for (const span of allSpans()) {
      const name = pick(span);
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  return {
    maxSpans,
    get spanCount() {
      return spanCount;
    },

    add(spans) {
      for (const span of spans) addOne(span);
      evictOldestTraces();
    },

    getTrace(traceId) {
      const wanted = normalizeTraceId(traceId);
      const entry = traces.get(lowTraceId(wanted));
      if (!entry) return [];
      const spans = [...spansOf(entry)];
      return byStartTime(wanted.length === 32 ? spans.filter((span) => span.traceId === wanted) : spans);
    },

    getTraces(query) {
      const found: { timestamp: number; spans: Span[] }[] = [];
      for (const entry of traces.values()) {
        for (const spans of groupByTraceId(spansOf(entry))) {
          if (matchesTraceQuery(spans, query)) found.push({ timestamp: traceTimestamp(spans) ?? 0, spans });
        }
      }
      return found
        .sort((a, b) => b.timestamp - a.timestamp)
        .slice(0, query.limit)
        .map(({ spans }) => byStartTime(spans));
    },

    getServiceNames: () => distinct((span) => span.localEndpoint?.serviceName),

    getSpanNames: (serviceName) =>
      distinct((span) => (span.localEndpoint?.serviceName === serviceName ? span.name : undefined)),

    getRemoteServiceNames: (serviceName) =>
      distinct((span) =>
        span.localEndpoint?.serviceName === serviceName ? span.remoteEndpoint?.serviceName : undefined
      ),

    getTagValues: (key) => distinct((span) => span.tags?.[key]),

    clear() {
      traces.clear();
      spanCount = 0;
    },
  };
}

function* spansOf(entry: TraceEntry): Generator<Span> {
  for (const pieces of entry.pieces.values()) yield* pieces;
}

function groupByTraceId(spans: Iterable<Span>): Span[][] {
  const groups = new Map<string, Span[]>();
  for (const span of spans) {
    const group = groups.get(span.traceId);
    if (group) group.push(span);
    else groups.set(span.traceId, [span]);
  }
  return [...groups.values()];
}

/** Spans without a timestamp (late pieces) go last. */
function byStartTime(spans: Span[]): Span[] {
  const start = (span: Span) => span.timestamp ?? Number.MAX_SAFE_INTEGER;
  return spans.sort((a, b) => start(a) - start(b));
}
