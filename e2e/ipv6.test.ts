/**
 * The landscape addressed by IPv6 literals throughout, on Node and Deno: the services listen on
 * `::` and call each other at `http://[::1]:…`, AMQP_URL names the broker as `[::1]` (through a
 * relay on IPv6 loopback to the run's broker, which listens on IPv4), ZIPKIN_URL the collector
 * as `[::1]`, and POD_IP gives each an IPv6 address. The answer's image link, the fallback
 * image's link and every span's local endpoint must hold up: brackets in URLs, the address in
 * `ipv6`.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import type { Runtime } from '../tools/landscape.ts';
import { until } from '../tools/wait.ts';
import { AMQP_URL, closeCheckingSpans, isCompleteAccountTrace, startLoggedLandscape, traceIdOf, waitForTrace, type LoggedLandscape } from './support.ts';

const POD_IP = 'fd00:10:244::7';

/** A TCP relay listening on [::1], passing each connection on to `host:port`. */
async function ipv6Relay(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

for (const runtime of ['node', 'deno'] as Runtime[]) {
  describe(`on ${runtime}, addressed by IPv6 literals`, () => {
    let collector: RunningCollector;
    let relay: Awaited<ReturnType<typeof ipv6Relay>>;
    let landscape: LoggedLandscape;
    before(async () => {
      collector = await startCollector({ port: 0, hostname: '::1' });
      const broker = new URL(AMQP_URL);
      relay = await ipv6Relay(broker.hostname.replace(/^\[|\]$/g, ''), Number(broker.port || 5672));
      broker.hostname = '[::1]';
      broker.port = String(relay.port);
      landscape = await startLoggedLandscape(runtime, collector.url, { amqpUrl: broker.href, env: { HOST: '::', POD_IP } });
    });
    after(async () => {
      await closeCheckingSpans(collector, () => landscape?.close());
      await relay?.close();
    });

    it('serves an account whose image link names imageservice at [::1], traced end to end over AMQP at [::1]', async () => {
      const { accountservice, imageservice } = landscape.services;
      assert.equal(accountservice.url, `http://[::1]:${accountservice.port}`);
      await until(
        async () => (await fetch(`${accountservice.url}/health`)).status === 200,
        20_000,
        'accountservice connected to the broker at [::1]',
      );
      const response = await fetch(`${accountservice.url}/accounts/10000`);
      assert.equal(response.status, 200);
      const account = (await response.json()) as { quote: { ipAddress: string }; imageData: { url: string; servedBy: string } };
      assert.match(account.imageData.url, new RegExp(`^http://\\[::1\\]:${imageservice.port}/file/\\w+\\.jpg$`));
      const image = await fetch(account.imageData.url);
      assert.equal(image.status, 200);
      assert.equal(image.headers.get('content-type'), 'image/jpeg');
      await image.body?.cancel();
      assert.equal(account.quote.ipAddress, POD_IP, "quotes-service's answer names its pod's address");

      // The VIP notification went through the broker at [::1] and back; the spans reached the collector at [::1].
      const spans = await waitForTrace(collector.url, traceIdOf(response), (found) => isCompleteAccountTrace(found, true));
      for (const span of spans) assert.deepEqual({ ...span.localEndpoint, serviceName: undefined }, { serviceName: undefined, ipv6: POD_IP });
    });

    it('links the fallback image at the [::1] address it was called at', async () => {
      const { accountservice, imageservice } = landscape.services;
      await imageservice.stop();
      const response = await fetch(`${accountservice.url}/accounts/10001`);
      assert.equal(response.status, 200);
      const { imageData } = (await response.json()) as { imageData: { url: string; servedBy: string } };
      assert.deepEqual(imageData, { url: `http://[::1]:${accountservice.port}/placeholder.jpg`, servedBy: 'fallback' });
      const image = await fetch(imageData.url);
      assert.equal(image.status, 200);
      await image.body?.cancel();
    });
  });
}
