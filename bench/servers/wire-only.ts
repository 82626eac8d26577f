/**
 * The overhead benchmark's untraced handler with what propagation puts on the wire and in Hono, and no
 * tracing code: a middleware that awaits, a fixed `traceresponse` on Node's response, five fixed trace
 * headers on the call. What the 0 %-sampled handler costs beyond it is tracing's own work.
 */
import { Hono } from 'hono';
import { callDownstream, downstreamUrl, findAccount, serve } from './common.ts';

const target = downstreamUrl();
const traceId = '0af7651916cd43dd8448eb211c80319c';
const traceresponse = `00-${traceId}-b7ad6b7169203331-00`;
const headers = {
  accept: 'application/json',
  'x-b3-traceid': traceId,
  'x-b3-spanid': 'b7ad6b7169203331',
  'x-b3-parentspanid': '00f067aa0ba902b7',
  'x-b3-sampled': '0',
  traceparent: traceresponse,
};
const app = new Hono();
app.use(async (c, next) => {
  (c.env as { outgoing?: { setHeader(name: string, value: string): unknown } }).outgoing?.setHeader('traceresponse', traceresponse);
  await next();
});
app.get('/accounts/:accountId', async (c) => {
  const account = findAccount(c.req.param('accountId'));
  const { body: quote } = await callDownstream(target, headers);
  return c.json({ ...account, quote });
});
await serve(app.fetch);
