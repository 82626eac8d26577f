/**
 * Bare Hono in the landscape's shape: a route that answers from a map after two calls to other
 * bare Hono processes, over the services' transport, with nothing else (no tracing, breaker,
 * retries, storage or log lines): what a landscape request costs at the least on this runtime.
 */
import process from 'node:process';
import { Hono } from 'hono';
import { callDownstream, findAccount, serve } from './common.ts';

const downstream = (name: string) => new URL('/api/quote', process.env[name] ?? 'http://127.0.0.1:8080');
const quoteUrl = downstream('QUOTE_URL');
const imageUrl = downstream('IMAGE_URL');
const app = new Hono();
app.get('/accounts/:accountId', async (c) => {
  const account = findAccount(c.req.param('accountId'));
  const { body: quote } = await callDownstream(quoteUrl, { accept: 'application/json' });
  const { body: image } = await callDownstream(imageUrl, { accept: 'application/json' });
  return c.json({ ...account, quote, image });
});
await serve(app.fetch);
