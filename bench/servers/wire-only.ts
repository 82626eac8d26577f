/**
 * The overhead benchmark's untraced handler with what propagation puts on the wire and in Hono, and no
 * tracing code: a middleware that awaits, a fixed `traceresponse` on Node's response, five fixed trace
 * headers on the call. What the 0 %-sampled handler costs beyond it is tracing's own work.
 */
import { Hono } from 'hono';
import { callDownstream, downstreamUrl, findAccount, fixedPropagation, serve, setTraceresponse } from './common.ts';

const target = downstreamUrl();
const { traceresponse, headers } = fixedPropagation('0');
const app = new Hono();
app.use(async (c, next) => {
  setTraceresponse(c.env, traceresponse);
  await next();
});
app.get('/accounts/:accountId', async (c) => {
  const account = findAccount(c.req.param('accountId'));
  const { body: quote } = await callDownstream(target, headers);
  return c.json({ ...account, quote });
});
await serve(app.fetch);
