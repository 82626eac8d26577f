/** Serves the collector app over HTTP on Node. */
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createCollectorApp } from './app.ts';
import type { CollectorAppOptions } from './app.ts';
import type { SpanStore } from './span-store.ts';

export interface StartCollectorOptions extends CollectorAppOptions {
  /** 0 picks a free port; the chosen one is returned. */
  port?: number;
  hostname?: string;
}

export interface RunningCollector {
  /** Base URL, e.g. http://127.0.0.1:9411 — what reporters and ZIPKIN_URL point at. */
  url: string;
  port: number;
  store: SpanStore;
  close(): Promise<void>;
}

export async function startCollector({
  port = 9411,
  hostname = '127.0.0.1',
  ...appOptions
}: StartCollectorOptions = {}): Promise<RunningCollector> {
  const app = createCollectorApp(appOptions);
  const server = await listen(app.fetch, port, hostname);
  const actualPort = (server.address() as AddressInfo).port;
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    store: app.store,
    close: () => (closing ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      // Keep-alive sockets from reporters would otherwise hold the server open.
      if ('closeIdleConnections' in server) server.closeIdleConnections();
    })),
  };
}

function listen(fetch: (request: Request) => Response | Promise<Response>, port: number, hostname: string) {
  return new Promise<ServerType>((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => {
      server.off('error', reject);
      resolve(server);
    });
    server.once('error', reject);
  });
}
