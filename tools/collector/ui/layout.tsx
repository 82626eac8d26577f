/** @jsxImportSource hono/jsx */
/**
 * What every page of the web UI shares: the page frame with its navigation, one colour per
 * service, and how times read.
 */
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';

/** Where the UI lives: Zipkin's own path, so links work locally and against a real Zipkin alike. */
export const UI_BASE = '/zipkin';

/** Twelve colours that stay apart from each other and from the error red. */
const PALETTE = [
  '#2f6fdf', '#e07b00', '#1b9e77', '#7b52c7', '#0f8fa8', '#c2185b',
  '#6b8e23', '#8d6e63', '#3949ab', '#5f6b7a', '#b8860b', '#0277bd',
];

/**
 * One colour per service name: the names are sorted and coloured in turn, so a service keeps
 * its colour on every page while the set of services stays the same.
 */
export function serviceColors(names: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(names)].sort();
  return new Map(sorted.map((name, index) => [name, PALETTE[index % PALETTE.length]!]));
}

/** How long ago an epoch-microsecond instant was, coarsely: `12s ago`, `5 min ago`, `3 h ago`, `2 days ago`. */
export function formatAgo(microseconds: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - microseconds / 1000) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  const days = Math.floor(seconds / 86_400);
  return `${days} day${days === 1 ? '' : 's'} ago`;
}

export function ServiceBadge({ name, color, count }: { name: string; color: string; count?: number }) {
  return (
    <span class="service-badge" style={`--service:${color}`}>
      {name}
      {count === undefined ? '' : <span class="count">{count}</span>}
    </span>
  );
}

/** Serialises data for a `<script type="application/json">` so no value can close the element. */
export function scriptJson(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c');
}

export function Layout({ title, page, scripts = [], children }: {
  title: string;
  page: 'search' | 'trace' | 'dependency';
  scripts?: string[];
  children: Child;
}) {
  return (
    <>
    {raw('<!doctype html>')}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title} · Zipkin (local)</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={`${UI_BASE}/static/ui.css`} />
        {scripts.map((name) => <script type="module" src={`${UI_BASE}/static/${name}`} />)}
      </head>
      <body data-page={page}>
        <header class="topbar">
          <a class="brand" href={`${UI_BASE}/`}>Zipkin <small>local</small></a>
          <nav>
            <a href={`${UI_BASE}/`} aria-current={page === 'search' ? 'page' : undefined}>Find traces</a>
            <a href={`${UI_BASE}/dependency`} aria-current={page === 'dependency' ? 'page' : undefined}>Dependencies</a>
          </nav>
          <form class="trace-id-search" method="get" action={`${UI_BASE}/`} role="search">
            <input
              name="traceId"
              type="search"
              placeholder="Trace ID or traceresponse"
              aria-label="Trace ID or traceresponse value"
              autocomplete="off"
              spellcheck={false}
            />
          </form>
        </header>
        <main>{children}</main>
      </body>
    </html>
    </>
  );
}
