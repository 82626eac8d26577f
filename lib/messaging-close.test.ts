/**
 * Closing the broker connection is bounded: a broker that stops answering while the service
 * stops (both shutting down at once) cannot hold the service's stop. Against the real broker,
 * through a proxy that can stop passing the broker's frames on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { testAmqpUrl } from '../tools/rabbitmq-node.ts';
import { deleteQueue } from '../tools/rabbitmq.ts';
import { until } from '../tools/wait.ts';
import { createLogger } from './log.ts';
import { Broker } from './messaging.ts';
import { createMemoryExporter } from './tracing/exporter.ts';
import { Tracing } from './tracing/tracer.ts';

const AMQP_URL = testAmqpUrl();

/** A TCP proxy to the broker; `silence()` stops passing the broker's frames to the client. */
async function brokerProxy() {
  const target = new URL(AMQP_URL);
  const sockets = new Set<Socket>();
  let silent = false;
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 5672) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.on('data', (chunk) => silent || client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(AMQP_URL);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    silence: () => (silent = true),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('Broker.close', () => {
  const queue = `close-test-${randomUUID().slice(0, 8)}`;
  after(() => deleteQueue(AMQP_URL, queue).catch(() => {}));

  const connected = async (url: string) => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ service: 'test' }, { write: (line) => lines.push(JSON.parse(line)) });
    const broker = new Broker({ url, log, tracing: new Tracing({ serviceName: 'test', exporter: createMemoryExporter() }), publishesTo: [queue] });
    await until(() => broker.problem === undefined, 10_000, 'the broker connection');
    return { broker, lines };
  };

  it('closes at once when the broker confirms', async () => {
    const proxy = await brokerProxy();
    const { broker, lines } = await connected(proxy.url);
    const started = performance.now();
    await broker.close(5000);
    assert.ok(performance.now() - started < 1000);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 0);
    await proxy.close();
  });

  it('stops waiting for a broker that no longer answers, and says so', async () => {
    const proxy = await brokerProxy();
    const { broker, lines } = await connected(proxy.url);
    proxy.silence();
    const started = performance.now();
    await broker.close(300);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 2000, `closed after ${elapsed} ms`);
    const warned = lines.find((l) => l.msg === 'RabbitMQ did not confirm closing the connection; stopping without it');
    assert.equal(warned?.timeoutMs, 300);
    await proxy.close();
  });
});
