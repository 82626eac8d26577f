/** @jsxImportSource hono/jsx */
/**
 * `/zipkin/`: find traces by service, span name, remote service, duration, tags and annotations,
 * over a lookback window, as Zipkin's "Find a trace" page does; each result summarises one trace.
 */
import { formatDuration, formatTimestamp, type TraceSummary } from '../../trace-tree.ts';
import { Layout, ServiceBadge, UI_BASE, formatAgo } from './layout.tsx';

/** Lookback choices, in milliseconds (what the API's `lookback` takes). */
export const LOOKBACKS: readonly { label: string; ms: number }[] = [
  { label: 'Last 15 minutes', ms: 15 * 60_000 },
  { label: 'Last hour', ms: 3_600_000 },
  { label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { label: 'Last day', ms: 86_400_000 },
  { label: 'Last 2 days', ms: 2 * 86_400_000 },
  { label: 'Last 7 days', ms: 7 * 86_400_000 },
];
export const LIMITS = [10, 25, 50, 100, 250] as const;

/** The form as submitted: texts as typed, so the page shows them back unchanged. */
export interface SearchForm {
  serviceName: string;
  spanName: string;
  remoteServiceName: string;
  annotationQuery: string;
  minDuration: string;
  maxDuration: string;
  lookback: number;
  limit: number;
}

export interface SearchPageProps {
  form: SearchForm;
  services: string[];
  spanNames: string[];
  remoteServices: string[];
  autocompleteKeys: readonly string[];
  colors: Map<string, string>;
  /** Matching traces, newest first; undefined with an error. */
  results?: TraceSummary[];
  error?: string;
}

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|μs|ms|s)?\s*$/i;

/**
 * A duration as people type it (`250us`, `10ms`, `1.5s`; a bare number is microseconds, the API's
 * unit) in whole microseconds; undefined for an empty field, NaN when unreadable.
 */
export function parseDurationInput(text: string): number | undefined {
  if (!text.trim()) return undefined;
  const match = DURATION.exec(text);
  if (!match) return NaN;
  const unit = (match[2] ?? 'us').toLowerCase();
  const factor = unit === 's' ? 1_000_000 : unit === 'ms' ? 1000 : 1;
  return Math.round(Number(match[1]) * factor);
}

function Select({ name, label, value, options, any }: { name: string; label: string; value: string; options: string[]; any: string }) {
  const all = value && !options.includes(value) ? [value, ...options] : options;
  return (
    <label>
      {label}
      <select name={name} id={name}>
        <option value="">{any}</option>
        {all.map((option) => <option value={option} selected={option === value}>{option}</option>)}
      </select>
    </label>
  );
}

export function SearchPage(props: SearchPageProps) {
  const { form, results, error, colors } = props;
  const longest = Math.max(1, ...(results ?? []).map((trace) => trace.duration));
  return (
    <Layout title="Find traces" page="search" scripts={['search.js']}>
      <form class="search-form" method="get" action={`${UI_BASE}/`}>
        <Select name="serviceName" label="Service" value={form.serviceName} options={props.services} any="any service" />
        <Select name="spanName" label="Span name" value={form.spanName} options={props.spanNames} any="any span" />
        <Select name="remoteServiceName" label="Remote service" value={form.remoteServiceName} options={props.remoteServices} any="any remote service" />
        <label class="wide">
          Tags and annotations
          <input
            name="annotationQuery"
            value={form.annotationQuery}
            placeholder="error and http.path=/accounts/10000"
            list="autocomplete"
            autocomplete="off"
            spellcheck={false}
          />
          <datalist id="autocomplete" data-keys={props.autocompleteKeys.join(',')}>
            {props.autocompleteKeys.map((key) => <option value={`${key}=`} />)}
          </datalist>
        </label>
        <label>
          Min duration
          <input name="minDuration" value={form.minDuration} placeholder="e.g. 10ms" size={8} />
        </label>
        <label>
          Max duration
          <input name="maxDuration" value={form.maxDuration} placeholder="e.g. 2s" size={8} />
        </label>
        <label>
          Lookback
          <select name="lookback">
            {LOOKBACKS.map(({ label, ms }) => <option value={String(ms)} selected={ms === form.lookback}>{label}</option>)}
          </select>
        </label>
        <label>
          Limit
          <select name="limit">
            {[...new Set([...LIMITS, form.limit])].sort((a, b) => a - b).map((limit) => (
              <option value={String(limit)} selected={limit === form.limit}>{limit}</option>
            ))}
          </select>
        </label>
        <button type="submit">Find traces</button>
      </form>

      {error ? <p class="problem" role="alert">{error}</p> : ''}
      {results ? (
        <section class="results" aria-label="Traces">
          <p class="results-count">
            {results.length === 0 ? 'No traces match.' : `${results.length} trace${results.length === 1 ? '' : 's'}, newest first`}
          </p>
          <ol class="trace-list">
            {results.map((trace) => (
              <li class={`trace-result${trace.errorCount > 0 ? ' has-error' : ''}`} data-trace-id={trace.traceId}>
                <a href={`${UI_BASE}/traces/${trace.traceId}`} class="trace-link">
                  <span class="root">
                    <ServiceBadge name={trace.rootServiceName} color={colors.get(trace.rootServiceName) ?? '#777'} />
                    <span class="root-span">{trace.rootSpanName}</span>
                  </span>
                  <span class="duration-cell">
                    <span class="duration-bar" style={`width:${Math.max(1, (trace.duration / longest) * 100).toFixed(1)}%`} />
                    <span class="duration">{formatDuration(trace.duration)}</span>
                  </span>
                </a>
                <div class="trace-meta">
                  <time datetime={new Date(trace.timestamp / 1000).toISOString()}>{formatTimestamp(trace.timestamp)}</time>
                  <span>{formatAgo(trace.timestamp)}</span>
                  <span class="span-count">{trace.spanCount} span{trace.spanCount === 1 ? '' : 's'}</span>
                  {trace.errorCount > 0 ? <span class="error-count">{trace.errorCount} error{trace.errorCount === 1 ? '' : 's'}</span> : ''}
                  <span class="trace-id">{trace.traceId}</span>
                </div>
                <div class="trace-services">
                  {trace.services.map(({ serviceName, spanCount }) => (
                    <ServiceBadge name={serviceName} color={colors.get(serviceName) ?? '#777'} count={spanCount} />
                  ))}
                </div>
              </li>
            ))}
          </ol>
        </section>
      ) : ''}
    </Layout>
  );
}
