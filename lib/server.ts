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

export async function listen(fetch: FetchHandler, port: number): Promise<RunningServer> {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (deno) {
    const server = deno.serve({ port, hostname: '0.0.0.0', onListen: () => {} }, async (request) => withoutInventedLength(request, await fetch(request)));
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  const { getRequestListener, RequestError } = await import('@hono/node-server');
  const { createServer } = await import('node:http');
  const listener = getRequestListener(fetch, {
    // What the adapter refuses before the app sees it (a bad Host, a backslash in the path) answers like the app.
    errorHandler: (error) =>
      error instanceof RequestError
        ? Response.json({ error: error.message }, { status: 400 })
        : Response.json({ error: 'internal error' }, { status: 500 }),
  });
  const server = createServer(listener);
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

/**
 * Deno answers a HEAD whose response has no body and no `content-length` with
 * `content-length: 0`, which RFC 9110 §8.6 forbids unless the GET's content is empty: an
 * empty body stream makes it send no length at all, as Node does.
 */
function withoutInventedLength(request: Request, response: Response): Response {
  if (request.method !== 'HEAD' || response.body !== null || response.headers.has('content-length')) return response;
  return new Response(new ReadableStream({ start: (controller) => controller.close() }), response);
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
