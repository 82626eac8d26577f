/**
 * The overhead benchmark's handler traced the OpenTelemetry way a Hono user would pick:
 * @hono/otel's middleware, the OTel trace SDK with an AsyncLocalStorage context (what
 * makes active spans follow awaits on Node), a BatchSpanProcessor with its defaults and
 * the Zipkin exporter; a manual child span, and W3C context injected into the outgoing
 * call with `propagation.inject`. Samples every request.
 */
import { httpInstrumentationMiddleware } from '@hono/otel';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { Hono } from 'hono';
import { callDownstream, downstreamUrl, findAccount, serve, zipkinUrl } from './common.ts';

const serviceName = 'bench-otel';
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const provider = new TracerProvider({
  resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
  spanProcessors: [new BatchSpanProcessor({ exporter: new ZipkinExporter({ url: `${zipkinUrl()}/api/v2/spans` }) })],
});
trace.setGlobalTracerProvider(provider);
const tracer = trace.getTracer(serviceName);
const target = downstreamUrl();

function getQuote(): Promise<unknown> {
  const attributes = { 'http.request.method': 'GET', 'url.full': target.href };
  return tracer.startActiveSpan('GET', { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    propagation.inject(context.active(), headers);
    try {
      const { status, body } = await callDownstream(target, headers);
      span.setAttribute('http.response.status_code', status);
      return body;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

const app = new Hono();
app.use(httpInstrumentationMiddleware({ serviceName }));
app.get('/accounts/:accountId', async (c) => {
  const id = c.req.param('accountId');
  const account = tracer.startActiveSpan('queryaccount', (span) => {
    span.setAttribute('account.id', id);
    const found = findAccount(id);
    span.end();
    return found;
  });
  const quote = await getQuote();
  return c.json({ ...account, quote });
});
await serve(app.fetch, () => provider.shutdown());
