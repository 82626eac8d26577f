/** @jsxImportSource hono/jsx */
/**
 * The collector's web UI, served at Zipkin's own paths (`/zipkin/`, `/zipkin/traces/{traceId}`,
 * `/zipkin/dependency`) so the same links open a trace locally and on a real Zipkin. Pages are
 * rendered on the server with Hono's JSX from the span store; a little vanilla JavaScript in
 * `static/` adds the interactivity. Everything is served from here: no network, no build step.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { linkDependencies } from '../dependency-linker.ts';
import type { SpanStore } from '../span-store.ts';
import { traceIdFromInput } from '../span.ts';
import { parseTraceQuery, type QueryDefaults } from '../trace-query.ts';
import { summarizeTrace, type TraceSummary } from '../../trace-tree.ts';
import { DependencyPage } from './dependency-page.tsx';
import { UI_BASE, serviceColors } from './layout.tsx';
import { LIMITS, SearchPage, parseDurationInput, type SearchForm } from './search-page.tsx';
import { TraceNotFound, TracePage } from './trace-page.tsx';

export interface UiOptions {
  store: SpanStore;
  /** The API's query defaults (now, lookback), read per request. */
  queryDefaults: () => Required<QueryDefaults>;
  autocompleteKeys: readonly string[];
}

const STATIC_TYPES: Record<string, string> = {
  'ui.css': 'text/css; charset=utf-8',
  'trace.js': 'text/javascript; charset=utf-8',
  'search.js': 'text/javascript; charset=utf-8',
  'dependency.js': 'text/javascript; charset=utf-8',
};
const STATIC_FILES = new Map(
  Object.keys(STATIC_TYPES).map((name) => [name, readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8')]),
);

/** The UI as a Hono app serving its own paths under `/zipkin/`. */
export function createUi({ store, queryDefaults, autocompleteKeys }: UiOptions): Hono {
  const ui = new Hono();
  const colors = (extra: Iterable<string> = []) => serviceColors([...store.getServiceNames(), ...extra]);

  ui.get(UI_BASE, (c) => c.redirect(`${UI_BASE}/`));

  ui.get(`${UI_BASE}/`, (c) => {
    const pasted = c.req.query('traceId');
    if (pasted !== undefined && pasted.trim() !== '') {
      const traceId = traceIdFromInput(pasted);
      if (traceId) return c.redirect(`${UI_BASE}/traces/${traceId}`);
    }
    const defaults = queryDefaults();
    const form: SearchForm = {
      serviceName: c.req.query('serviceName')?.toLowerCase() ?? '',
      spanName: c.req.query('spanName')?.toLowerCase() ?? '',
      remoteServiceName: c.req.query('remoteServiceName')?.toLowerCase() ?? '',
      annotationQuery: c.req.query('annotationQuery') ?? '',
      minDuration: c.req.query('minDuration') ?? '',
      maxDuration: c.req.query('maxDuration') ?? '',
      lookback: positiveInteger(c.req.query('lookback')) ?? defaults.lookback,
      limit: positiveInteger(c.req.query('limit')) ?? LIMITS[0],
    };
    let error: string | undefined;
    let results: TraceSummary[] | undefined;
    if (pasted !== undefined && pasted.trim() !== '') {
      error = `"${pasted.trim()}" is neither a trace id (16 or 32 hex characters) nor a traceresponse value (00-<trace id>-<span id>-<flags>)`;
    } else {
      const durations = { minDuration: parseDurationInput(form.minDuration), maxDuration: parseDurationInput(form.maxDuration) };
      const unreadable = Object.entries(durations).find(([, value]) => Number.isNaN(value));
      if (unreadable) {
        error = `${unreadable[0]}: write a duration like 250us, 10ms or 1.5s`;
      } else {
        const params: Record<string, string | undefined> = {
          ...form,
          minDuration: durations.minDuration?.toString(),
          maxDuration: durations.maxDuration?.toString(),
          lookback: String(form.lookback),
          limit: String(form.limit),
        };
        const parsed = parseTraceQuery((name) => params[name] || undefined, defaults);
        if (parsed.ok) results = store.getTraces(parsed.query).map((spans) => summarizeTrace(spans)!);
        else error = parsed.error;
      }
    }
    return c.html(
      <SearchPage
        form={form}
        services={store.getServiceNames()}
        spanNames={form.serviceName ? store.getSpanNames(form.serviceName) : []}
        remoteServices={form.serviceName ? store.getRemoteServiceNames(form.serviceName) : []}
        autocompleteKeys={autocompleteKeys}
        colors={colors(results?.flatMap((trace) => trace.services.map((service) => service.serviceName)))}
        results={results}
        error={error}
      />,
      error ? 400 : 200,
    );
  });

  ui.get(`${UI_BASE}/traces/:traceId`, (c) => {
    const traceId = traceIdFromInput(c.req.param('traceId'));
    if (!traceId) return c.redirect(`${UI_BASE}/?traceId=${encodeURIComponent(c.req.param('traceId'))}`);
    const spans = store.getTrace(traceId);
    if (spans.length === 0) return c.html(<TraceNotFound traceId={traceId} />, 404);
    return c.html(<TracePage spans={spans} knownServices={store.getServiceNames()} />);
  });

  ui.get(`${UI_BASE}/dependency`, (c) => {
    const { now, lookback: defaultLookback } = queryDefaults();
    const lookback = positiveInteger(c.req.query('lookback')) ?? defaultLookback;
    const links = linkDependencies(store.getTraces({ endTs: now, lookback, limit: Infinity }));
    return c.html(<DependencyPage links={links} lookback={lookback} colors={colors(links.flatMap((l) => [l.parent, l.child]))} />);
  });

  ui.get(`${UI_BASE}/static/:name`, (c) => {
    const name = c.req.param('name');
    const body = STATIC_FILES.get(name);
    if (body === undefined) return c.json({ error: `no file ${name}` }, 404);
    return c.body(body, 200, { 'content-type': STATIC_TYPES[name]!, 'cache-control': 'no-cache' });
  });

  return ui;
}

function positiveInteger(text: string | undefined): number | undefined {
  return text && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
}
