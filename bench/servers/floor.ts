/**
 * The least tracing can put on the wire, and nothing else: wire-only.ts's propagation (a middleware
 * that awaits, a fixed `traceresponse`, five fixed trace headers on the call), and one request's three
 * spans as fixed JSON, posted to the collector in batches of 1,000 spans (or every second) over the
 * services' transport, as the exporter posts them. What lib/tracing costs beyond it is its own work:
 * ids, clocks, span records, their encoding.
 */
import { Hono } from 'hono';
import { createHttpTransport } from '../../lib/http-transport.ts';
import { callDownstream, downstreamUrl, findAccount, fixedPropagation, serve, setTraceresponse, zipkinUrl } from './common.ts';

const target = downstreamUrl();
const { traceId, traceresponse, headers } = fixedPropagation('1');
const endpoint = '{"serviceName":"bench-ours","ipv4":"127.0.0.1"}';
const t = 1_765_000_000_000_000;
// One request's spans as the exporter writes them for ours.ts (SERVER, queryaccount, CLIENT): 1 KB.
const spansOfARequest = [
  `{"traceId":"${traceId}","id":"b7ad6b7169203331","name":"get /accounts/:accountid","kind":"SERVER","timestamp":${t},"duration":412,"localEndpoint":${endpoint},"tags":{"http.method":"GET","http.path":"/accounts/10001","http.route":"/accounts/:accountId","http.status_code":"200"}}`,
  `{"traceId":"${traceId}","parentId":"b7ad6b7169203331","id":"00f067aa0ba902b7","name":"queryaccount","timestamp":${t + 12},"duration":3,"localEndpoint":${endpoint},"tags":{"account.id":"10001"}}`,
  `{"traceId":"${traceId}","parentId":"b7ad6b7169203331","id":"5fe3a0b2c41d9e07","name":"getquote","kind":"CLIENT","timestamp":${t + 20},"duration":371,"localEndpoint":${endpoint},"remoteEndpoint":{"serviceName":"downstream"},"tags":{"http.method":"GET","http.path":"/api/quote","http.status_code":"200"}}`,
].join(',');
const REQUESTS_PER_BATCH = 333;

const transport = createHttpTransport();
const collector = new URL('/api/v2/spans', zipkinUrl());
const utf8 = new TextEncoder();
let batch: string[] = [];
const post = () => {
  if (batch.length === 0) return;
  const body = utf8.encode('[' + batch.join(',') + ']');
  batch = [];
  void transport
    .send({ method: 'POST', url: collector, headers: { 'content-type': 'application/json' }, body })
    .then((response) => response.text())
    .catch(() => {});
};
setInterval(post, 1000).unref();

const app = new Hono();
app.use(async (c, next) => {
  setTraceresponse(c.env, traceresponse);
  await next();
  if (batch.push(spansOfARequest) === REQUESTS_PER_BATCH) post();
});
app.get('/accounts/:accountId', async (c) => {
  const account = findAccount(c.req.param('accountId'));
  const { body: quote } = await callDownstream(target, headers);
  return c.json({ ...account, quote });
});
await serve(app.fetch);
