/**
 * The local Zipkin-API collector (tools/collector) in its own process, counting what it
 * accepts and refuses and keeping the duration of every span by name, for the parent
 * benchmark to ask over IPC. Not a `listening`-line server: it answers on the IPC channel.
 */
import { startCollector } from '../../tools/collector/index.ts';
import { createSpanStore, type SpanStore } from '../../tools/collector/index.ts';

export interface CollectorStats {
  acceptedSpans: number;
  acceptedPosts: number;
  /** Refused POSTs by HTTP status. */
  refusedPosts: Record<string, number>;
  lastRefusal?: string;
}

export type CollectorQuery = { type: 'stats' } | { type: 'durations'; name: string };
export type CollectorRequest = CollectorQuery & { id: number };
export type CollectorReply =
  | { type: 'listening'; url: string }
  | { type: 'stats'; id: number; stats: CollectorStats }
  | { type: 'durations'; id: number; durations: number[] };

const stats: CollectorStats = { acceptedSpans: 0, acceptedPosts: 0, refusedPosts: {} };
const durations = new Map<string, number[]>();
/** Bounds the durations kept per span name. */
const MAX_DURATIONS = 1_000_000;

// Only the newest traces are needed (for spot checks); a small store keeps ingest fast.
const inner = createSpanStore({ maxSpans: 50_000 });
const store: SpanStore = {
  get maxSpans() {
    return inner.maxSpans;
  },
  get spanCount() {
    return inner.spanCount;
  },
  add(spans) {
    for (const span of spans) {
      if (span.name === undefined || span.duration === undefined) continue;
      let list = durations.get(span.name);
      if (!list) durations.set(span.name, (list = []));
      if (list.length < MAX_DURATIONS) list.push(span.duration);
    }
    inner.add(spans);
  },
  getTrace: (traceId) => inner.getTrace(traceId),
  getTraces: (query) => inner.getTraces(query),
  getServiceNames: () => inner.getServiceNames(),
  getSpanNames: (serviceName) => inner.getSpanNames(serviceName),
  getTagValues: (key) => inner.getTagValues(key),
  getRemoteServiceNames: (serviceName) => inner.getRemoteServiceNames(serviceName),
  clear: () => inner.clear(),
};

const collector = await startCollector({
  port: 0,
  store,
  log: (event) => {
    if (event.event === 'spans accepted') {
      stats.acceptedPosts++;
      stats.acceptedSpans += Number(event['spans']);
    } else if (event.event === 'spans rejected') {
      const status = String(event['status']);
      stats.refusedPosts[status] = (stats.refusedPosts[status] ?? 0) + 1;
      stats.lastRefusal = String(event['error']);
    }
  },
});

const send = (reply: CollectorReply) => process.send?.(reply);
process.on('message', (request: CollectorRequest) => {
  if (request.type === 'stats') send({ type: 'stats', id: request.id, stats: structuredClone(stats) });
  else send({ type: 'durations', id: request.id, durations: durations.get(request.name) ?? [] });
});
process.on('SIGTERM', () => void collector.close().finally(() => process.exit(0)));
// The parent going away (even killed) ends the collector too.
process.on('disconnect', () => process.exit(0));
send({ type: 'listening', url: collector.url });
