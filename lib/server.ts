/**
 * Serving a fetch handler on whichever runtime runs us: Deno's built-in server on
 * Deno, @hono/node-server on Node. Both stop gracefully: no new connections, requests
 * in flight finish.
 */
import process from 'node:process';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops accepting connections and resolves when requests in flight have finished. */
  close(): Promise<void>;
}

interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
interface DenoNamespace {
  serve(
    options: { port: number; hostname?: string; onListen?: (addr: { port: number }) => void },
    handler: FetchHandler,
  ): DenoServer;
}

/** A request the Node adapter refused before the app saw it (a bad Host, a backslash in the path...). */
export interface RefusedRequest {
  method: string;
  /** The request target as it came. */
  target: string;
  header(name: string): string | undefined;
  /** Why the adapter refused it. */
  reason: string;
}

export interface ListenOptions {
  /** Extra headers for the 400 answering a refused request (Node only), such as its `traceresponse`. */
  refusedHeaders?: (request: RefusedRequest) => Record<string, string>;
}

export async function listen(fetch: FetchHandler, port: number, { refusedHeaders }: ListenOptions = {}): Promise<RunningServer> {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (deno) {
    const server = deno.serve({ port, hostname: '0.0.0.0', onListen: () => {} }, fetch);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  const { getRequestListener, RequestError } = await import('@hono/node-server');
  const { createServer } = await import('node:http');
  // What the adapter refuses before the app sees it (a bad Host, a backslash in the path) answers like
  // the app. Its errorHandler is given the error only: a listener per request (about 10 ns) lets it
  // read the request's headers too.
  const server = createServer((incoming, outgoing) =>
    getRequestListener(fetch, {
      errorHandler: (error) => {
        if (!(error instanceof RequestError)) return Response.json({ error: 'internal error' }, { status: 500 });
        const header = (name: string) => {
          const value = incoming.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        };
        const refused = { method: incoming.method ?? 'GET', target: incoming.url ?? '', header, reason: error.message };
        return Response.json({ error: error.message }, { status: 400, headers: refusedHeaders?.(refused) });
      },
    })(incoming, outgoing),
  );
  const { promise, resolve } = withResolvers<number>();
  server.listen(port, () => resolve((server.address() as import('node:net').AddressInfo).port));
  const bound = await promise;
  return {
    port: bound,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        // Keep-alive connections left idle after their last response would hold close() open.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.once('close', () => clearInterval(sweep));
        server.closeIdleConnections();
      }),
  };
}

/** Runs `stop` once on SIGTERM or SIGINT. */
export function onTermination(stop: (signal: string) => void): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      stop(signal);
    });
  }
}

/** Promise.withResolvers, which Node 20 lacks. */
export function withResolvers<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
