/** The service the overhead benchmark's handler calls: a small JSON answer, untraced. */
import { Hono } from 'hono';
import { serve } from './common.ts';

const app = new Hono();
const quote = { quote: 'Make it work, make it right, make it fast.', ipAddress: '127.0.0.1', language: 'en' };
app.get('/api/quote', (c) => c.json(quote));
await serve(app.fetch);
