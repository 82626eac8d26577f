/**
 * A development collector that speaks the Zipkin v2 HTTP API: accepts spans on
 * POST /api/v2/spans and serves them back through the read endpoints the Zipkin UI and
 * `npm run trace` use. Storage is in memory only.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { normalizeSpan, normalizeTraceId } from './span.ts';
import { createSpanStore, DEFAULT_MAX_SPANS } from './span-store.ts';
import type { SpanStore } from './span-store.ts';
import { createSpanListValidator } from './span-validator.ts';
import type { SpanListValidator, SpanProblem } from './span-validator.ts';
import { DEFAULT_LOOKBACK_MS, parseDependencyQuery, parseTraceQuery } from './trace-query.ts';
import { linkDependencies } from './dependency-linker.ts';
import { createUi } from './ui/routes.tsx';

export interface CollectorLogEvent {
  event: string;
  [field: string]: unknown;
}

export interface CollectorAppOptions {
  /** Most spans held in memory; the oldest traces are evicted first. */
  maxSpans?: number;
  /** Largest accepted POST body, in bytes. */
  maxBodyBytes?: number;
  /** Receives one event per POST (accepted or rejected). */
  log?: (event: CollectorLogEvent) => void;
  /** Shares a store between apps, or lets a caller inspect it; created from maxSpans otherwise. */
  store?: SpanStore;
  /** Overrides the spec-derived validator (built once and reused by default). */
  validator?: SpanListValidator;
  /** Milliseconds searched back from endTs when a query names no lookback (Zipkin's QUERY_LOOKBACK). */
  queryLookback?: number;
  /** Tag keys whose values `/api/v2/autocompleteValues` offers (Zipkin's AUTOCOMPLETE_KEYS). */
  autocompleteKeys?: readonly string[];
}

export type CollectorApp = Hono & { readonly store: SpanStore };

export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;
/** The tags this landscape's spans carry that are worth searching by value. */
export const DEFAULT_AUTOCOMPLETE_KEYS = ['http.method', 'http.route', 'http.status_code', 'messaging.destination.name'];

const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

let sharedValidator: SpanListValidator | undefined;

export function createCollectorApp({
  maxSpans = DEFAULT_MAX_SPANS,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  log = () => {},
  store = createSpanStore({ maxSpans }),
  validator = (sharedValidator ??= createSpanListValidator()),
  queryLookback = DEFAULT_LOOKBACK_MS,
  autocompleteKeys = DEFAULT_AUTOCOMPLETE_KEYS,
}: CollectorAppOptions = {}): CollectorApp {
  const app = new Hono();
  const queryDefaults = () => ({ now: Date.now(), lookback: queryLookback });

  const reject = (c: Context, status: 400 | 413 | 415, error: string, details: SpanProblem[] = []) => {
    log({ event: 'spans rejected', status, error, problems: details.length });
    return c.json({ error, details }, status);
  };

  app.get('/health', (c) => c.json({ status: 'UP' }));

  app.post(
    '/api/v2/spans',
    async (c, next) => {
      const mediaType = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'application/json') {
        return reject(c, 415, 'Content-Type must be application/json', [
          { field: 'Content-Type', message: mediaType ? `got ${mediaType}` : 'is missing' },
        ]);
      }
      const encoding = c.req.header('content-encoding')?.trim().toLowerCase();
      if (encoding && encoding !== 'identity') {
        return reject(c, 415, 'Content-Encoding is not supported; send uncompressed JSON', [
          { field: 'Content-Encoding', message: `got ${encoding}` },
        ]);
      }
      await next();
    },
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => reject(c, 413, `request body is larger than ${maxBodyBytes} bytes`),
    }),
    async (c) => {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch (error) {
        return reject(c, 400, 'request body is not valid JSON', [{ field: '', message: String(error) }]);
      }
      const result = validator(body);
      if (!result.valid) {
        const [first] = result.problems;
        const where = first?.span === undefined ? '' : `span ${first.span}${first.field ? ` ${first.field}` : ''}: `;
        return reject(c, 400, `invalid spans, none stored (${where}${first?.message})`, result.problems);
      }
      const spans = result.spans.map(normalizeSpan);
      store.add(spans);
      log({ event: 'spans accepted', spans: spans.length, stored: store.spanCount });
      return c.body(null, 202);
    },
  );

  app.get('/api/v2/trace/:traceId', (c) => {
    const traceId = normalizeTraceId(c.req.param('traceId'));
    if (!TRACE_ID.test(traceId)) return c.json({ error: 'traceId must be 16 or 32 hex characters' }, 400);
    const spans = store.getTrace(traceId);
    if (spans.length === 0) return c.json({ error: `trace ${traceId} not found` }, 404);
    return c.json(spans);
  });

  app.get('/api/v2/traceMany', (c) => {
    const ids = (c.req.query('traceIds') ?? '').split(',').map(normalizeTraceId);
    if (ids.length < 2) return c.json({ error: 'traceIds must list at least two trace ids; use /api/v2/trace/{traceId} for one' }, 400);
    const invalid = ids.find((id) => !TRACE_ID.test(id));
    if (invalid !== undefined) return c.json({ error: `traceIds: "${invalid}" is not 16 or 32 hex characters` }, 400);
    const redundant = ids.find((id, index) => ids.indexOf(id) !== index);
    if (redundant !== undefined) return c.json({ error: `traceIds: ${redundant} is listed twice` }, 400);
    // A 64-bit id also finds the 128-bit trace it is the low half of: list each trace once.
    const traces = new Map(ids.map((id) => store.getTrace(id)).filter((spans) => spans.length > 0).map((spans) => [spans[0]!.traceId, spans]));
    return c.json([...traces.values()]);
  });

  app.get('/api/v2/dependencies', (c) => {
    const parsed = parseDependencyQuery((name) => c.req.query(name), queryDefaults());
    if (!parsed.ok) return c.json({ error: parsed.error }, 400);
    return c.json(linkDependencies(store.getTraces({ ...parsed.query, limit: Infinity })));
  });

  app.get('/api/v2/autocompleteKeys', (c) => c.json([...autocompleteKeys]));

  app.get('/api/v2/autocompleteValues', (c) => {
    const key = c.req.query('key');
    if (!key) return c.json({ error: 'key is required' }, 400);
    return c.json(autocompleteKeys.includes(key) ? store.getTagValues(key) : []);
  });

  app.get('/api/v2/traces', (c) => {
    const parsed = parseTraceQuery((name) => c.req.query(name), queryDefaults());
    if (!parsed.ok) return c.json({ error: parsed.error }, 400);
    return c.json(store.getTraces(parsed.query));
  });

  app.get('/api/v2/services', (c) => c.json(store.getServiceNames()));

  app.get('/api/v2/spans', (c) => {
    const serviceName = c.req.query('serviceName')?.toLowerCase();
    if (!serviceName) return c.json({ error: 'serviceName is required' }, 400);
    return c.json(store.getSpanNames(serviceName));
  });

  app.get('/api/v2/remoteServices', (c) => {
    const serviceName = c.req.query('serviceName')?.toLowerCase();
    if (!serviceName) return c.json({ error: 'serviceName is required' }, 400);
    return c.json(store.getRemoteServiceNames(serviceName));
  });

  app.get('/', (c) => c.redirect('/zipkin/'));
  app.route('/', createUi({ store, queryDefaults, autocompleteKeys }));

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.onError((error, c) => {
    log({ event: 'request failed', method: c.req.method, path: c.req.path, error: String(error) });
    return c.json({ error: 'internal error' }, 500);
  });

  return Object.assign(app, { store });
}
