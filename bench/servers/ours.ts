/**
 * The overhead benchmark's handler traced by lib/tracing, wired as runService wires it
 * (Tracing, the Zipkin exporter, tracingMiddleware), sampling every request. The
 * outgoing call is a CLIENT span with B3 and W3C headers, as ServiceClient makes it,
 * without the breaker and retries: the other variants make the same plain call.
 * TRACING_SAMPLE_RATE as for the services (0: context propagated, nothing recorded); B3=single
 * injects the one `b3` header instead of the four X-B3-* ones; EXPORT=none records spans and
 * drops them.
 */
import process from 'node:process';
import { Hono } from 'hono';
import { hostIPv4 } from '../../lib/instance.ts';
import { createLogger } from '../../lib/log.ts';
import type { ServiceEnv } from '../../lib/service.ts';
import { createZipkinExporter } from '../../lib/tracing/exporter.ts';
import { tracingMiddleware } from '../../lib/tracing/middleware.ts';
import type { Span } from '../../lib/tracing/span.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { callDownstream, downstreamUrl, findAccount, serve, zipkinUrl } from './common.ts';

const serviceName = 'bench-ours';
const log = createLogger({ service: serviceName });
// EXPORT=none: spans recorded and dropped when they finish, to tell recording from export.
const exporter = process.env['EXPORT'] === 'none' ? { logSpan: () => {} } : createZipkinExporter({ url: zipkinUrl(), log, intervalMs: 1000 });
const sampleRate = Number(process.env['TRACING_SAMPLE_RATE'] ?? 1);
const tracing = new Tracing({ serviceName, exporter, sampleRate, ipv4: hostIPv4() });
const target = downstreamUrl();
const b3 = process.env['B3'] === 'single' ? 'single' : 'multi';

async function getQuote(parent: Span): Promise<unknown> {
  const span = parent.child('getquote', { kind: 'CLIENT', remoteService: 'downstream' });
  span.tag('http.method', 'GET');
  span.tag('http.path', target.pathname);
  const headers: Record<string, string> = { accept: 'application/json' };
  span.inject((key, value) => (headers[key] = value), { b3 });
  try {
    const { status, body } = await callDownstream(target, headers);
    span.tag('http.status_code', status);
    return body;
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.finish();
  }
}

const app = new Hono<ServiceEnv>();
app.use(tracingMiddleware({ tracing, log }));
app.get('/accounts/:accountId', async (c) => {
  const id = c.req.param('accountId');
  const account = c.get('span').trace('queryaccount', (span) => {
    span.tag('account.id', id);
    return findAccount(id);
  });
  const quote = await getQuote(c.get('span'));
  return c.json({ ...account, quote });
});
await serve(app.fetch, () => tracing.flush());
