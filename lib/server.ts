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

/** How long an idle kept-alive connection stays open on Node. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Deno's error classes for what Node reports as error codes. */
const DENO_ERROR_CODES: Record<string, string> = {
  AddrInUse: 'EADDRINUSE',
  AddrNotAvailable: 'EADDRNOTAVAIL',
  PermissionDenied: 'EACCES',
  NotCapable: 'EACCES',
};

/** A request refused before the app saw it: by the Node adapter (a bad Host, a backslash in the path...), or for its Host on Deno. */
export interface RefusedRequest {
  method: string;
  /** The request target as it came. */
  target: string;
  header(name: string): string | undefined;
  /** Why it was refused. */
  reason: string;
  /** The status it is answered with: 400, or 417 for an Expect other than 100-continue. */
  status: number;
}

export interface ListenOptions {
  /** The address to listen on; loopback by default. */
  hostname?: string;
  /** Extra headers for the 400 answering a refused request, such as its `traceresponse`. */
  refusedHeaders?: (request: RefusedRequest) => Record<string, string>;
}

/**
 * Serves `fetch` on `hostname:port` (port 0: any free one). Rejects when it cannot listen,
 * with Node's error `code` on both runtimes (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, `ENOTFOUND`).
 */
export async function listen(fetch: FetchHandler, port: number, { hostname = '127.0.0.1', refusedHeaders }: ListenOptions = {}): Promise<RunningServer> {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (deno) {
    let server: DenoServer;
    try {
      server = deno.serve({ port, hostname, onListen: () => {} }, async (request) => {
        const refused = refusedOnDeno(request);
        if (refused) return Response.json({ error: refused.reason }, { status: 400, headers: refusedHeaders?.(refused) });
        return withoutInventedLength(request, await fetch(request));
      });
    } catch (error) {
      // A host name that does not resolve comes as a plain Error; its message is all that tells.
      const unresolved = error instanceof Error && error.message.startsWith('failed to lookup address');
      const code = error instanceof Error ? (unresolved ? 'ENOTFOUND' : DENO_ERROR_CODES[error.name]) : undefined;
      throw code ? Object.assign(error as Error, { code }) : error;
    }
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  const { getRequestListener, RequestError } = await import('@hono/node-server');
  const { createServer } = await import('node:http');
  // What the adapter refuses before the app sees it (a bad Host, a backslash in the path) answers like
  // the app. Its errorHandler is given the error only; the request it refused is the one being admitted:
  // the adapter builds the request, and refuses it, in the listener's synchronous part. (A listener per
  // request would say it plainly, at 1 µs a request.)
  let admitting: import('node:http').IncomingMessage | undefined;
  const refusedOf = (incoming: import('node:http').IncomingMessage | undefined, reason: string, status = 400): RefusedRequest => {
    const header = (name: string) => {
      const value = incoming?.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    return { method: incoming?.method ?? 'GET', target: incoming?.url ?? '', header, reason, status };
  };
  const handle = getRequestListener(fetch, {
    errorHandler: (error) => {
      if (!(error instanceof RequestError)) return Response.json({ error: 'internal error' }, { status: 500 });
      const refused = refusedOf(admitting, error.message);
      return Response.json({ error: error.message }, { status: 400, headers: refusedHeaders?.(refused) });
    },
  });
  const listener = (incoming: import('node:http').IncomingMessage, outgoing: import('node:http').ServerResponse) => {
    admitting = incoming;
    try {
      return handle(incoming, outgoing);
    } finally {
      admitting = undefined;
    }
  };
  // Idle keep-alive connections stay open longer than clients and proxies keep theirs (Node's own
  // default is 5 s): a server closing one just as a client reuses it makes that request fail with a reset.
  // A request without Host goes on to the adapter, which refuses it as the app would answer (a JSON
  // body, a traceresponse), where Node's own check answers 400 with nothing.
  const server = createServer(
    { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: KEEP_ALIVE_TIMEOUT_MS + 1000, requireHostHeader: false },
    listener,
  );
  server.on('clientError', answerClientError);
  // An Expect other than 100-continue (RFC 9110 §10.1.1: 417), answered the same way.
  server.on('checkExpectation', (incoming: import('node:http').IncomingMessage, outgoing: import('node:http').ServerResponse) => {
    const refused = refusedOf(incoming, `expectation ${JSON.stringify(incoming.headers.expect)} is not supported; only 100-continue is`, 417);
    const body = JSON.stringify({ error: refused.reason });
    outgoing.writeHead(417, { ...refusedHeaders?.(refused), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
    outgoing.end(body);
  });
  const { promise, resolve, reject } = withResolvers<number>();
  server.once('error', reject);
  server.listen(port, hostname, () => {
    server.off('error', reject);
    resolve((server.address() as import('node:net').AddressInfo).port);
  });
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
 * What Node's HTTP parser refuses before the adapter sees a request (headers over Node's 16 KiB,
 * a request line that is no HTTP) is answered as Node would, with the same status (431, 413,
 * 408 or 400), but with a JSON body naming the problem where Node sends none. Deno's server
 * answers such requests itself, without a body.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  // A response already under way on this connection cannot be followed by another.
  const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (error.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const [status, problem] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['431 Request Header Fields Too Large', 'request header fields too large: the request line and headers may take 16 KiB in all']
      : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? ['413 Content Too Large', 'chunk extensions too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ['408 Request Timeout', 'request headers not received in time']
          : ['400 Bad Request', `malformed HTTP request (${error.code ?? 'unparsable'})`];
  const body = JSON.stringify({ error: problem });
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * `Host` as RFC 9110 §7.2 allows it: `uri-host [ ":" port ]`, the host an IP-literal or a
 * reg-name (IPv4 addresses included; RFC 3986 §3.2.2), the port at most 65535.
 */
const VALID_HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9\-._~!$&'()*+,;=]+)(?::(\d{0,5}))?$/i;

/**
 * What Deno's server passes on but the Node adapter refuses, refused the same way: a `Host`
 * that is no host. Deno builds the request's URL by putting the Host value in front of the
 * request target, so `Host: x/health?` would make the app route `/health`, and a port over
 * 65535 makes a URL that does not parse.
 */
function refusedOnDeno(request: Request): RefusedRequest | undefined {
  const host = request.headers.get('host');
  // None (HTTP/1.0) or empty: Deno puts its own address in the URL.
  if (!host) return undefined;
  const valid = VALID_HOST.exec(host);
  if (valid && !(Number(valid[1]) > 65535)) return undefined;
  // The target as it came: what follows the Host value in the URL Deno built.
  const prefix = `http://${host}`;
  const target = request.url.startsWith(prefix) ? request.url.slice(prefix.length) : '/';
  const header = (name: string) => request.headers.get(name) ?? undefined;
  return { method: request.method, target, header, reason: 'Invalid host header', status: 400 };
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

export interface TerminationOptions {
  /**
   * Also stop when standard input reaches its end: a parent that holds the other end of
   * a pipe (npm start, the tests) then never leaves this process behind, however the
   * parent ends, SIGKILL included.
   */
  onStdinClose?: boolean;
}

/** Runs `stop` once, on SIGTERM or SIGINT (or when standard input closes, if asked), with what caused it. */
export function onTermination(stop: (cause: string) => void, { onStdinClose = false }: TerminationOptions = {}): void {
  let stopping = false;
  const once = (cause: string) => {
    if (stopping) return;
    stopping = true;
    stop(cause);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => once(signal));
  if (onStdinClose) {
    process.stdin.on('data', () => {});
    process.stdin.once('end', () => once('stdin closed'));
    process.stdin.once('error', () => once('stdin closed'));
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
