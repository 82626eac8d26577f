/**
 * Hono middleware writing one JSON access line per request through the request's logger
 * (`c.var.log`, set by the tracing middleware), so the line carries the request's
 * `traceId` and `spanId`:
 *
 *   {"time":…,"level":"info","service":"accountservice","traceId":"…","spanId":"…","msg":"request",
 *    "method":"GET","route":"/accounts/:accountId","path":"/accounts/10000","status":200,"durationMs":12.345}
 *
 * Answers below 500 are logged at `info`, 5xx ones at `error`; the line of a 4xx or 5xx
 * carries the reason as `error` (what was thrown, or the `error` field of the JSON answer).
 * A line the level filters out is never formatted. Registered after the probes' routes,
 * as the tracing middleware is, it leaves them out.
 *
 * @example
 * ```ts
 * app.use(tracingMiddleware({ tracing, log }))
 * app.use(accessLog())
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono';
import { msSince, type Logger, type LogLevel } from './log.ts';
import type { RefusedRequest } from './server.ts';
import { answeredStatus, respondingRoute, type TracingVariables } from './tracing/middleware.ts';
import type { Span } from './tracing/span.ts';

/** How much of a request's path an access line, or an answer naming the path, shows. */
export const MAX_PATH_LENGTH = 200;

export function accessLog(): MiddlewareHandler<{ Variables: TracingVariables }> {
  return async function accessLog(c, next) {
    const start = performance.now();
    let completed = false;
    try {
      await next();
      completed = true;
    } finally {
      const status = answeredStatus(c, completed);
      const level: LogLevel = status >= 500 ? 'error' : 'info';
      // c.get, not c.var: c.var copies every variable into a new object on each read.
      const log = c.get('log');
      if (log.enabled(level)) {
        log[level]('request', {
          method: c.req.method,
          route: respondingRoute(c),
          path: c.req.path.slice(0, MAX_PATH_LENGTH),
          status,
          durationMs: msSince(start),
          error: status >= 400 ? await reasonOf(c) : undefined,
        });
      }
    }
  };
}

/** Why a request failed: what was thrown, or the `error` field of a JSON answer (the services' error shape). */
async function reasonOf(c: Context): Promise<unknown> {
  if (c.error) return c.error;
  if (!c.res.headers.get('content-type')?.startsWith('application/json')) return undefined;
  try {
    const body = (await c.res.clone().json()) as { error?: unknown };
    return typeof body?.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The access line of a request refused before the app saw it (lib/server.ts: a bad Host, a
 * backslash in the path), as the middleware writes one for every other answer, with the ids of
 * the span that recorded the refusal (traceRefusedRequest).
 */
export function logRefusedRequest(log: Logger, span: Span, request: RefusedRequest): void {
  log.child({ traceId: span.traceId, spanId: span.spanId }).info('request', {
    method: request.method,
    path: request.path.slice(0, MAX_PATH_LENGTH),
    status: request.status,
    error: request.reason,
  });
}
