/**
 * One request through accountservice becomes one complete trace across the four
 * services, over HTTP and RabbitMQ, with every parent link right: on Node and on Deno.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertOwnAccountTrace,
  isCompleteAccountTrace,
  PATIENT_CALLS,
  only,
  service,
  startTestLandscape,
  traceIdOf,
  waitForTrace,
  type Span,
  type TestLandscape,
} from './support.ts';
import { until } from '../tools/wait.ts';


for (const runtime of ['node', 'deno'] as const) {
  describe(`the traced landscape on ${runtime}`, () => {
    let landscape: TestLandscape;
    let accounts: string;

    before(async () => {
      landscape = await startTestLandscape(runtime, { serviceEnv: { accountservice: PATIENT_CALLS } });
      accounts = landscape.services.accountservice.url;
    });
    after(() => landscape?.close());

    it('answers GET /accounts/10000 with the account, a quote and an image', async () => {
      const response = await fetch(`${accounts}/accounts/10000`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as Record<string, any>;
      assert.equal(body.id, '10000');
      assert.equal(body.name, 'Person_0');
      assert.equal(typeof body.servedBy, 'string');
      assert.deepEqual(Object.keys(body.quote).sort(), ['ipAddress', 'language', 'quote']);
      assert.notEqual(body.quote.ipAddress, 'circuit-breaker', 'the quote came from quotes-service, not the fallback');
      assert.match(body.imageData.url, /\/file\/\w+\.jpg$/);
      assert.notEqual(body.imageData.servedBy, 'fallback');

      // The image URL is served by imageservice, as a sepia JPEG.
      const image = await fetch(body.imageData.url);
      assert.equal(image.status, 200);
      assert.equal(image.headers.get('content-type'), 'image/jpeg');
      const bytes = new Uint8Array(await image.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8]);
    });

    it('records the complete trace tree of GET /accounts/10000', async () => {
      const response = await fetch(`${accounts}/accounts/10000`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const traceId = traceIdOf(response);
      const spans = await waitForTrace(landscape.collector.url, traceId, (s) => isCompleteAccountTrace(s, true));

      assert.equal(spans.length, 9, `nine spans: ${spans.map((s) => `${service(s)}:${s.name}`).join(', ')}`);
      for (const span of spans) assert.equal(span.traceId, traceId);

      const server = only(spans, (s) => service(s) === 'accountservice' && s.kind === 'SERVER', 'accountservice SERVER span');
      assert.equal(server.parentId, undefined, 'the edge request starts the trace');
      assert.equal(server.name, 'get /accounts/:accountid');
      assert.equal(server.tags?.['http.method'], 'GET');
      assert.equal(server.tags?.['http.path'], '/accounts/10000');
      assert.equal(server.tags?.['http.route'], '/accounts/:accountId');
      assert.equal(server.tags?.['http.status_code'], '200');
      assert.ok(server.annotations?.some((a) => a.value === 'Sent VIP message'), 'the VIP annotation');

      const query = only(spans, (s) => s.name === 'queryaccount', 'queryaccount span');
      assert.equal(query.parentId, server.id);
      assert.equal(service(query), 'accountservice');
      assert.equal(query.kind, undefined, 'a local span');

      for (const [clientName, remote, local] of [
        ['getquote', 'quotes-service', 'burn-cpu'],
        ['getimageurl', 'imageservice', undefined],
      ] as const) {
        const client = only(spans, (s) => s.name === clientName, `${clientName} span`);
        assert.equal(client.kind, 'CLIENT');
        assert.equal(client.parentId, server.id);
        assert.equal(client.remoteEndpoint?.serviceName, remote);
        // B3 across HTTP: the server joins the client's span (Zipkin's shared span).
        const remoteServer = only(spans, (s) => service(s) === remote && s.kind === 'SERVER', `${remote} SERVER span`);
        assert.equal(remoteServer.id, client.id);
        assert.equal(remoteServer.shared, true);
        assert.equal(remoteServer.parentId, server.id);
        if (local) {
          const work = only(spans, (s) => s.name === local, `${local} span`);
          assert.equal(work.parentId, client.id);
          assert.equal(service(work), remote);
        }
      }

      const producer = only(spans, (s) => s.kind === 'PRODUCER', 'PRODUCER span');
      assert.equal(producer.parentId, server.id);
      assert.equal(service(producer), 'accountservice');
      assert.equal(producer.remoteEndpoint?.serviceName, 'rabbitmq');
      const consumer = only(spans, (s) => s.kind === 'CONSUMER', 'CONSUMER span');
      assert.equal(consumer.parentId, producer.id, 'the consumer continues the producer across AMQP');
      assert.equal(service(consumer), 'vipservice');
      // OpenTelemetry's messaging conventions for RabbitMQ; the default exchange leaves the queue as destination.
      const messaging = (span: Span) => Object.fromEntries(Object.entries(span.tags ?? {}).filter(([key]) => /^(messaging|rabbitmq)\./.test(key)));
      const messageId = producer.tags?.['messaging.message.id'];
      assert.match(messageId ?? '', /^[0-9a-f-]{36}$/);
      for (const [span, operation, type] of [[producer, 'publish', 'send'], [consumer, 'consume', 'process']] as const) {
        assert.deepEqual(messaging(span), {
          'messaging.system': 'rabbitmq',
          'messaging.destination.name': landscape.vipQueue,
          'messaging.operation.name': operation,
          'messaging.operation.type': type,
          'messaging.message.id': messageId,
          'rabbitmq.destination.routing_key': landscape.vipQueue,
        });
        assert.equal(span.name, `${operation} ${landscape.vipQueue}`);
      }
      // The PRODUCER span ends within its request, whenever the broker confirms.
      assert.ok(producer.timestamp! + producer.duration! <= server.timestamp! + server.duration!, 'the producer span ends before its parent');

      // Every parent link resolves inside the trace.
      const ids = new Set(spans.map((s) => s.id));
      for (const span of spans) if (span.parentId) assert.ok(ids.has(span.parentId), `${span.name}'s parent is in the trace`);

      // vipservice logged the notification with the trace's ids (the line comes through its output on its own time).
      const found = () =>
        landscape.logs.find((l) => l.service === 'vipservice' && l.json?.msg === 'VIP notification received' && l.json.traceId === traceId);
      await until(() => found() !== undefined, 10_000, 'vipservice to log the notification with its traceId');
      const logged = found()!;
      assert.equal(logged.json?.spanId, consumer.id);
    });

    it('keeps every span in its own trace under concurrent requests', async () => {
      const ids = Array.from({ length: 100 }, (_, i) => String(10000 + (i % 20)));
      const responses = await Promise.all(
        ids.map(async (id) => {
          const response = await fetch(`${accounts}/accounts/${id}`);
          await response.body?.cancel();
          assert.equal(response.status, 200);
          return { id, traceId: traceIdOf(response) };
        }),
      );
      assert.equal(new Set(responses.map((r) => r.traceId)).size, responses.length, 'one trace per request');
      for (const { id, traceId } of responses) {
        const spans = await waitForTrace(landscape.collector.url, traceId, (s) => isCompleteAccountTrace(s, id === '10000'));
        assertOwnAccountTrace(spans, id);
      }
    });
  });
}
