/**
 * A bare Hono route on whichever runtime runs it (`node --import tsx` or `deno run -A`):
 * the limit of one hop that the end-to-end benchmark compares the landscape with.
 */
import { Hono } from 'hono';
import { serve } from './common.ts';

const app = new Hono();
app.get('/accounts/:accountId', (c) => {
  const id = c.req.param('accountId');
  return c.json({ id, name: 'Person_1' });
});
await serve(app.fetch);
