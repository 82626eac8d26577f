/** The overhead benchmark's handler without tracing: the baseline. */
import { Hono } from 'hono';
import { callDownstream, downstreamUrl, findAccount, serve } from './common.ts';

const target = downstreamUrl();
const app = new Hono();
app.get('/accounts/:accountId', async (c) => {
  const account = findAccount(c.req.param('accountId'));
  const { body: quote } = await callDownstream(target, { accept: 'application/json' });
  return c.json({ ...account, quote });
});
await serve(app.fetch);
