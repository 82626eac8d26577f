/**
 * HEAD as RFC 9110 §9.3.2 says: the status and header fields a GET would answer with, no
 * content, and none of the GET's work that only makes the content.
 *
 * Hono answers a HEAD by running the route's GET handler and dropping the body, so a GET
 * that calls other services, publishes a message or tones an image would do all that for
 * nothing: link checkers, uptime monitors and proxies send HEAD. Hence the rule for every
 * GET route: whatever has side effects or real cost comes after
 * `if (isHead(c)) return headAnswer(c, type)`; what comes before (validation, a lookup)
 * decides a HEAD's status as it decides the GET's. A route that is cheap and changes
 * nothing (health, an error, a URL lookup) needs no such line: its handler runs, and this
 * middleware sends the exact `content-length` of the body it made, which the runtimes
 * would otherwise get wrong (Node's adapter omits it, Deno sends 0).
 *
 * @example
 * ```ts
 * app.use(headRequests())
 * app.get('/orders/:id', async (c) => {
 *   const order = orders.get(c.req.param('id'))
 *   if (!order) return c.json({ error: 'no such order' }, 404)
 *   if (isHead(c)) return headAnswer(c, 'application/json')
 *   return c.json(await enrich(order)) // calls other services: never for a HEAD
 * })
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono';

/** Whether this request is a HEAD (which Hono routes to the GET handler). */
export function isHead(c: Context): boolean {
  return c.req.method === 'HEAD';
}

/**
 * A HEAD's answer where the GET's content costs work or has side effects: 200 and its
 * content type, no `content-length`, since RFC 9110 §9.3.2 lets a server omit the header
 * fields whose values are known only once the content is made.
 */
export function headAnswer(c: Context, contentType: string): Response {
  return c.body(null, 200, { 'content-type': contentType });
}

/** Sends a HEAD's answer without content, with the `content-length` of the content the GET handler made, if it made one. */
export function headRequests(): MiddlewareHandler {
  return async function headRequests(c, next) {
    await next();
    if (!isHead(c) || c.res.body === null) return;
    const length = (await c.res.arrayBuffer()).byteLength;
    const headers = new Headers(c.res.headers);
    headers.set('content-length', String(length));
    c.res = new Response(null, { status: c.res.status, statusText: c.res.statusText, headers });
  };
}
