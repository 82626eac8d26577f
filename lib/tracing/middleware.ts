/**
 * Hono middleware opening a SERVER span for every request.
 *
 * The span, and a logger whose lines carry its trace and span ids, travel in `c.var` (read them
 * with `c.get`: `c.var` copies every variable into a new object on each read);
 * everything downstream takes them from there explicitly.
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: TracingVariables }>()
 * app.use(tracingMiddleware({ tracing, log }))
 * app.get('/accounts/:id', (c) => {
 *   const account = c.get('span').trace('queryaccount', () => store.get(c.req.param('id')))
 *   return c.json(account)
 * })
 * ```
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../log.ts';
import { setAnswerHeader, type RefusedRequest } from '../server.ts';
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
    // Named for the method until the route is known; span names are lower-cased where they are set.
    const span = tracing.continueSpan(method, extract((name) => headers.get(name)), {
      kind: 'SERVER',
      continuation: 'join',
    });
    c.set('span', span);
    c.set('log', log.child({ traceId: span.traceId, spanId: span.spanId }));
    // Set before the handler runs, so every response carries it, errors included.
    if (!setAnswerHeader(c.env, 'traceresponse', span.traceresponse)) c.header('traceresponse', span.traceresponse);
    let answered = false;
    try {
      await next();
      answered = true;
    } finally {
      if (span.recording) {
        const route = respondingRoute(c);
        if (route) span.setName(`${method} ${route}`);
        tagHttp(span, method, c.req.path, answeredStatus(c, answered), route);
        if (c.error) span.fail(c.error);
      }
      span.finish();
    }
  };
}

/**
 * Records a request refused before the app saw it (a 400 for a bad Host, or the Node adapter's
 * for a backslash in the path) as the app would have: a SERVER span continuing the request's
 * context, or a new trace sampled at the service's rate when the context is absent or malformed.
 * Returns the finished span, whose `traceresponse` names a span the caller finds in Zipkin, as
 * for any other answer.
 *
 * @example
 * ```ts
 * listen(app.fetch, port, { refusedHeaders: (request) => ({ traceresponse: traceRefusedRequest(tracing, request).traceresponse }) })
 * ```
 */
export function traceRefusedRequest(
  tracing: Tracing,
  request: RefusedRequest,
): Span {
  const { method, status } = request;
  const span = tracing.continueSpan(method, extract(request.header), { kind: 'SERVER', continuation: 'join' });
  if (span.recording) {
    tagHttp(span, method, request.path, status);
    span.annotate(`refused: ${request.reason}`);
  }
  span.finish();
  return span;
}

/** The HTTP tags of a SERVER span, and `error` for a 5xx. */
function tagHttp(span: Span, method: string, path: string, status: number, route?: string): void {
  span.tag('http.method', method);
  span.tag('http.path', path);
  if (route) span.tag('http.route', route);
  span.tag('http.status_code', status);
  if (status >= 500) span.fail(String(status));
}

/**
 * The status the client gets, once the middleware after this one has `completed` (or thrown): 500
 * where `listen` answers for the app, for an error out of it (its onError threw) and for
 * `Response.error()` (status 0), which no server can send; otherwise the response's.
 */
export function answeredStatus(c: Parameters<MiddlewareHandler>[0], completed: boolean): number {
  return completed && c.res.status !== 0 ? c.res.status : 500;
}

/** The route pattern of the handler that answered, if a route (not middleware) did. */
export function respondingRoute(c: Parameters<MiddlewareHandler>[0]): string | undefined {
  const route = matchedRoutes(c)[c.req.routeIndex];
  return route && route.method !== 'ALL' ? route.path : undefined;
}
