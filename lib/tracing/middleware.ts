/**
 * Hono middleware opening a SERVER span for every request.
 *
 * The span, and a logger whose lines carry its trace and span ids, travel in `c.var`;
 * everything downstream takes them from there explicitly.
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: TracingVariables }>()
 * app.use(tracingMiddleware({ tracing, log }))
 * app.get('/accounts/:id', (c) => {
 *   const account = c.var.span.trace('queryaccount', () => store.get(c.req.param('id')))
 *   return c.json(account)
 * })
 * ```
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../log.ts';
import { extract } from './propagation.ts';
import type { Span } from './span.ts';
import type { Tracing } from './tracer.ts';

export type TracingVariables = {
  /** The SERVER span of this request. */
  span: Span;
  /** Logs lines carrying this request's traceId and spanId. */
  log: Logger;
};

export interface TracingMiddlewareOptions {
  tracing: Tracing;
  log: Logger;
}

export function tracingMiddleware({ tracing, log }: TracingMiddlewareOptions): MiddlewareHandler<{
  Variables: TracingVariables;
}> {
  return async function tracingMiddleware(c, next) {
    const method = c.req.method;
    const headers = c.req.raw.headers;
    const span = tracing.continueSpan(method.toLowerCase(), extract((name) => headers.get(name)), {
      kind: 'SERVER',
      continuation: 'join',
    });
    c.set('span', span);
    c.set('log', log.child({ traceId: span.traceId, spanId: span.spanId }));
    // Set before the handler runs, so every response carries it, errors included.
    c.header('traceresponse', span.traceresponse);
    try {
      await next();
    } finally {
      if (span.recording) {
        const route = respondingRoute(c);
        span.setName(route ? `${method.toLowerCase()} ${route}` : method.toLowerCase());
        span.tag('http.method', method);
        span.tag('http.path', c.req.path);
        if (route) span.tag('http.route', route);
        const status = c.res.status;
        span.tag('http.status_code', status);
        if (c.error) span.fail(c.error);
        else if (status >= 500) span.fail(String(status));
      }
      span.finish();
    }
  };
}

/** The route pattern of the handler that answered, if a route (not middleware) did. */
export function respondingRoute(c: Parameters<MiddlewareHandler>[0]): string | undefined {
  const route = matchedRoutes(c)[c.req.routeIndex];
  return route && route.method !== 'ALL' ? route.path : undefined;
}
