/** @jsxImportSource hono/jsx */
/**
 * `/zipkin/traces/{traceId}`: one trace as a waterfall, shaped as Zipkin's UI shapes it (see
 * trace-tree.ts). The rows travel as JSON and static/trace.js draws only those in view, so a trace
 * of thousands of spans opens at once; collapsing, the details panel and the time axis live there.
 */
import type { Span } from '../span.ts';
import { formatDuration, formatTimestamp, isError, shapeTrace, traceRows } from '../../trace-tree.ts';
import { Layout, ServiceBadge, UI_BASE, scriptJson, serviceColors } from './layout.tsx';

/** What static/trace.js reads from the page. */
export interface TraceViewData {
  traceId: string;
  /** Epoch microseconds. */
  start: number;
  /** Microseconds. */
  duration: number;
  colors: Record<string, string>;
  rows: { depth: number; descendants: number; offset?: number; orphan: boolean; span: Span }[];
}

const TICKS = 5;

export function TracePage({ spans, knownServices }: { spans: readonly Span[]; knownServices: readonly string[] }) {
  const trace = shapeTrace(spans);
  const rows = traceRows(trace);
  const perService = new Map<string, number>();
  let errors = 0;
  let depth = 0;
  for (const { span, depth: rowDepth } of rows) {
    const name = span.localEndpoint?.serviceName ?? 'unknown';
    perService.set(name, (perService.get(name) ?? 0) + 1);
    if (isError(span)) errors++;
    depth = Math.max(depth, rowDepth + 1);
  }
  const remoteNames = rows.map(({ span }) => span.remoteEndpoint?.serviceName).filter((name): name is string => !!name);
  const colors = serviceColors([...knownServices, ...perService.keys(), ...remoteNames]);
  const root = rows[0]?.span;
  const rootName = `${root?.localEndpoint?.serviceName ?? 'unknown'}: ${root?.name ?? 'unknown'}`;
  const data: TraceViewData = {
    traceId: trace.traceId,
    start: trace.start,
    duration: trace.duration,
    colors: Object.fromEntries(colors),
    rows,
  };

  return (
    <Layout title={rootName} page="trace" scripts={['trace.js']}>
      <section class="trace-header">
        <h1>{rootName}</h1>
        <dl class="trace-facts">
          <div><dt>Trace ID</dt><dd class="mono">{trace.traceId}</dd></div>
          <div><dt>Start</dt><dd>{trace.spanCount > 0 ? formatTimestamp(trace.start) : '?'}</dd></div>
          <div><dt>Duration</dt><dd>{formatDuration(trace.duration)}</dd></div>
          <div><dt>Services</dt><dd>{perService.size}</dd></div>
          <div><dt>Depth</dt><dd>{depth}</dd></div>
          <div><dt>Spans</dt><dd>{trace.spanCount}</dd></div>
          <div class={errors > 0 ? 'has-error' : ''}><dt>Errors</dt><dd>{errors}</dd></div>
        </dl>
        <div class="trace-services">
          {[...perService].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, count]) => (
            <ServiceBadge name={name} color={colors.get(name) ?? '#777'} count={count} />
          ))}
        </div>
        <div class="trace-actions">
          <button type="button" data-action="expand-all">Expand all</button>
          <button type="button" data-action="collapse-all">Collapse all</button>
          <a href={`/api/v2/trace/${trace.traceId}`}>JSON</a>
        </div>
      </section>

      <section class="trace-view">
        <div class="waterfall" role="tree" aria-label="Spans" tabindex={0}>
          <div class="waterfall-head" aria-hidden="true">
            <div class="name-column">Service: span</div>
            <div class="timeline-column axis">
              {Array.from({ length: TICKS }, (_, i) => (
                <span class="tick" style={`left:${(i / (TICKS - 1)) * 100}%`}>
                  {formatDuration(Math.round((trace.duration * i) / (TICKS - 1)))}
                </span>
              ))}
            </div>
          </div>
          <div class="waterfall-body">
            <div class="rows" />
          </div>
        </div>
        <aside id="span-details" class="span-details" aria-label="Span details" aria-live="polite">
          <p class="hint">Select a span to see its ids, tags, annotations and endpoints.</p>
        </aside>
      </section>
      <script type="application/json" id="trace-data" dangerouslySetInnerHTML={{ __html: scriptJson(data) }} />
    </Layout>
  );
}

export function TraceNotFound({ traceId }: { traceId: string }) {
  return (
    <Layout title="Trace not found" page="trace">
      <p class="problem" role="alert">
        Trace <span class="mono">{traceId}</span> is not in this collector (it keeps spans in memory only).{' '}
        <a href={`${UI_BASE}/`}>Find traces</a>
      </p>
    </Layout>
  );
}
