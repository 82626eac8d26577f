/**
 * Serving a fetch handler on whichever runtime runs us: Deno's built-in server on
 * Deno, @hono/node-server on Node. Both stop gracefully: no new connections, requests
 * in flight finish.
 */
import { Server as NetServer, type Socket } from 'node:net';
import process from 'node:process';
import { HTTPException } from 'hono/http-exception';

/**
 * A fetch handler, as Hono's `app.fetch`. `env` (Hono's `c.env`) is the server's bindings of the
 * request: on Node @hono/node-server's `{ incoming, outgoing }`, on Deno `listen`'s own; pass it to
 * `setAnswerHeader`.
 */
export type FetchHandler = (request: Request, env?: unknown) => Response | Promise<Response>;

/** What `listen` on Deno passes a handler as its `env`: headers to add to its answer. */
class DenoBindings {
  answerHeaders: Array<[name: string, value: string]> | undefined;
}

/** @hono/node-server's bindings, as far as `setAnswerHeader` uses them. */
interface NodeBindings {
  outgoing?: { headersSent: boolean; setHeader(name: string, value: string): unknown };
}

/**
 * Sets a header on the answer to a request, outside the app's Response: the server adds it as it
 * sends the answer, unless the app set a header of that name on its Response itself. A field of
 * that name on a Response passed through from another server (one from `fetch`, whose headers
 * cannot change) is that server's, and is replaced; so is one left on a Response the app answers
 * with again by an earlier answer. `env` is the bindings the
 * handler was given (Hono's `c.env`). Returns false where it cannot: a handler not served by
 * `listen` (`app.request` in tests), or Node's answer already on its way; set it on the Response then.
 *
 * Why: a header set through Hono before the answer makes Hono build a `Headers` object for every
 * response, which the server then copies out again; the Response of an answer without one takes
 * the runtimes' fast path (8 µs a request on Node, 6 on Deno: BENCHMARKS.md).
 */
export function setAnswerHeader(env: unknown, name: string, value: string): boolean {
  if (env instanceof DenoBindings) {
    (env.answerHeaders ??= []).push([name, value]);
    return true;
  }
  const outgoing = (env as NodeBindings | undefined)?.outgoing;
  if (!outgoing || outgoing.headersSent) return false;
  outgoing.setHeader(name, value);
  return true;
}

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /**
   * The address listened on: the hostname asked for, or `0.0.0.0` where `::` (every interface)
   * found no IPv6 on this node (see `ipv6Unavailable`).
   */
  host: string;
  /**
   * Why `::` fell back to IPv4 only, as the system's error code (`EAFNOSUPPORT`: a kernel booted
   * with IPv6 off); undefined when it did not.
   */
  ipv6Unavailable?: string;
  /**
   * Stops accepting connections and resolves when requests in flight have been answered, each
   * answer sent whole before its connection closes, a request whose body is still arriving
   * included. On Deno, a request that comes meanwhile is answered 503.
   */
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

/** Deno's message for a socket address the system refuses (EINVAL: a link-local IPv6 address without its zone). */
const DENO_EINVAL = /\(os error 22\)$/;

/**
 * A request refused before the app saw it: a Host that is missing (HTTP/1.1), given twice or no
 * host, a URL that does not parse, a backslash in the path (Node's adapter), an Expect it cannot meet,
 * a CONNECT (which asks for a proxy's tunnel).
 */
export interface RefusedRequest {
  method: string;
  /** The request target as it came. */
  target: string;
  /** The target's path, without query: what spans and log lines show (no scheme, authority or credentials of an absolute-form target). */
  path: string;
  header(name: string): string | undefined;
  /** Why it was refused. */
  reason: string;
  /** The status it is answered with: 400, 417 for an Expect other than 100-continue, 503 on Deno once close has begun. */
  status: number;
}

/**
 * The hostname that asks for every interface in every address family the node has: IPv6 and IPv4
 * on one dual-stack socket (IPv4 arriving as IPv4-mapped IPv6 addresses), or IPv4 only (`0.0.0.0`)
 * on a node without IPv6. `0.0.0.0` itself means IPv4 only, as it says.
 */
export const EVERY_INTERFACE = '::';

/** What a node without IPv6 answers a socket of that family with: Linux booted with `ipv6.disable=1`. */
const NO_IPV6 = 'EAFNOSUPPORT';

export interface ListenOptions {
  /**
   * The address to listen on, an IP address or a name resolving to one; loopback (`127.0.0.1`) by
   * default. `::` (EVERY_INTERFACE): every interface, IPv4 and IPv6, whatever the node has.
   */
  hostname?: string;
  /** Extra headers for the 400 answering a refused request, such as its `traceresponse`. */
  refusedHeaders?: (request: RefusedRequest) => Record<string, string>;
  /**
   * How long a request may take to arrive whole, its body included, in milliseconds (Node's
   * `requestTimeout`, 300 000 by default, on both runtimes). Past it the request is answered 408,
   * as a refused request, and its body is no longer read. Checked every tenth of it (at most every
   * 30 s, as Node checks), so a request is cut between the bound and 1.1 times it.
   */
  requestTimeoutMs?: number;
}

/** Node's default `requestTimeout`: how long a request may take to arrive whole. */
export const REQUEST_TIMEOUT_MS = 300_000;

/** How often the arrival of requests is checked against the bound: a tenth of it, from 10 ms to Node's 30 s. */
const checkIntervalOf = (boundMs: number) => Math.min(30_000, Math.max(10, Math.ceil(boundMs / 10)));

/**
 * What the app reading a body that did not arrive within the bound gets instead of the rest: an
 * HTTPException, which Hono answers 408 (and `runService`'s onError as JSON naming the bound).
 */
const bodyTimeout = (boundMs: number) => new HTTPException(408, { message: `request body not received within ${boundMs / 1000} s` });

/**
 * Serves `fetch` on `hostname:port` (port 0: any free one). Rejects when it cannot listen,
 * with Node's error `code` on both runtimes (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, `ENOTFOUND`,
 * `EAFNOSUPPORT` for an IPv6 address on a node without IPv6, `EINVAL` for one the system cannot bind
 * as given: a link-local address without its zone). An IPv6 literal in brackets (`[::]`) is taken
 * as the address within them.
 *
 * `::` serves IPv4 too on both runtimes, whatever the node's `net.ipv6.bindv6only` says: Node's
 * libuv clears IPV6_V6ONLY on the socket, and on Deno, whose socket follows the sysctl, a second
 * listener on `0.0.0.0` and the same port takes IPv4 where the first does not (where it does, that
 * bind fails with EADDRINUSE and is dropped). On a node without IPv6 it listens on `0.0.0.0` instead
 * and says so in `ipv6Unavailable`.
 */
export async function listen(
  fetch: FetchHandler,
  port: number,
  { hostname = '127.0.0.1', refusedHeaders, requestTimeoutMs = REQUEST_TIMEOUT_MS }: ListenOptions = {},
): Promise<RunningServer> {
  // An IPv6 literal as URLs write it (`[::]`): Node refuses the brackets, Deno takes them but would not
  // see `[::]` as every interface (no IPv4 listener beside it where bindv6only is 1).
  hostname = /^\[[0-9a-f:.]+(?:%[\w.-]+)?\]$/i.test(hostname) ? hostname.slice(1, -1) : hostname;
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (deno) {
    // Requests whose handler has not returned. Deno's shutdown cuts the body of a request still being
    // read (an upload arriving when the stop begins), so close waits for these first, refusing new ones.
    let handling = 0;
    let handled: (() => void) | undefined;
    let closing = false;
    const arrivals = new Arrivals(requestTimeoutMs);
    const handler: FetchHandler = async (request) => {
      const refused = refusedOnDeno(request) ?? (closing ? shuttingDown(request) : undefined);
      if (refused) return refusal(refused, refusedHeaders);
      request = withDotSegmentsResolved(request);
      handling++;
      try {
        const bindings = new DenoBindings();
        let response: Response;
        try {
          // Only a request with a body is watched (Deno gives GET, HEAD and CONNECT none): the hot path pays nothing.
          response = await fetch(request.body === null ? request : arrivals.watch(request), bindings);
        } catch {
          // What the app did not answer (its onError threw) is answered as on Node, where Deno's own
          // answer is a plain text 500 and a line on standard error that is no JSON.
          response = internalError();
        }
        response = response.type === 'error' ? internalError() : withoutInventedLength(request, response);
        return bindings.answerHeaders ? withAnswerHeaders(response, bindings.answerHeaders) : response;
      } finally {
        if (--handling === 0) handled?.();
      }
    };
    const serve = (on: string, onPort: number) => {
      try {
        return deno.serve({ port: onPort, hostname: on, onListen: () => {} }, handler);
      } catch (error) {
        // A host name that does not resolve comes as a plain Error; its message is all that tells.
        const unresolved = error instanceof Error && error.message.startsWith('failed to lookup address');
        const invalid = error instanceof Error && DENO_EINVAL.test(error.message);
        const code = error instanceof Error ? (unresolved ? 'ENOTFOUND' : invalid ? 'EINVAL' : (DENO_ERROR_CODES[error.name] ?? (error as { code?: string }).code)) : undefined;
        throw code ? Object.assign(error as Error, { code }) : error;
      }
    };
    const servers: DenoServer[] = [];
    let host = hostname;
    let ipv6Unavailable: string | undefined;
    try {
      servers.push(serve(hostname, port));
    } catch (error) {
      if (hostname !== EVERY_INTERFACE || (error as { code?: string }).code !== NO_IPV6) throw error;
      [host, ipv6Unavailable] = ['0.0.0.0', NO_IPV6];
      servers.push(serve(host, port));
    }
    const bound = servers[0]!.addr.port;
    if (host === EVERY_INTERFACE) {
      // Deno's socket on :: takes IPv4 only where net.ipv6.bindv6only is 0 (Linux's default): elsewhere
      // IPv4 needs a listener of its own, and only there can one bind the same port.
      try {
        servers.push(serve('0.0.0.0', bound));
      } catch (error) {
        // EADDRINUSE: the dual-stack socket holds the IPv4 port, as it should.
        if ((error as { code?: string }).code !== 'EADDRINUSE') {
          await Promise.all(servers.map((server) => server.shutdown()));
          throw error;
        }
      }
    }
    const close = async () => {
      closing = true;
      if (handling > 0) await new Promise<void>((resolve) => (handled = resolve));
      arrivals.stop();
      await Promise.all(servers.map((server) => server.shutdown()));
    };
    return { port: bound, host, ...(ipv6Unavailable && { ipv6Unavailable }), close };
  }
  const { getRequestListener, RequestError } = await import('@hono/node-server');
  const { createServer } = await import('node:http');
  // What the adapter refuses before the app sees it (a bad Host, a backslash in the path) answers like
  // the app. Its errorHandler is given the error only; the request it refused is the one being admitted:
  // the adapter builds the request, and refuses it, in the listener's synchronous part. (A listener per
  // request would say it plainly, at 1 µs a request.)
  type Incoming = import('node:http').IncomingMessage;
  type Outgoing = import('node:http').ServerResponse;
  let admitting: Incoming | undefined;
  const refusedOf = (incoming: Incoming | undefined, reason: string, status = 400): RefusedRequest => {
    const header = (name: string) => {
      const value = incoming?.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    const target = incoming?.url ?? '';
    return { method: incoming?.method ?? 'GET', target, path: targetPath(target), header, reason, status };
  };
  /** Answers a refusal on Node's response itself, for what is refused before the adapter runs. */
  const refuseOn = (outgoing: Outgoing, refused: RefusedRequest) => {
    const body = JSON.stringify({ error: refused.reason });
    const headers = { ...refusedHeaders?.(refused), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' };
    outgoing.writeHead(refused.status, headers).end(body);
  };
  const handle = getRequestListener(
    // The adapter checks a Host only where it is not plain letters, digits, dots and dashes, but some
    // of those (`foo.123`, `1.2.3.999`) make no URL either, and the app may parse its request's URL.
    (request, env) => {
      if (!URL.canParse(request.url)) return refusal(refusedOf((env as { incoming: Incoming }).incoming, 'Invalid URL'), refusedHeaders);
      const outgoing = (env as { outgoing: Outgoing }).outgoing;
      const answer = fetch(request, env);
      return answer instanceof Promise ? answer.then((response) => withoutPassedOnFields(response, outgoing)) : withoutPassedOnFields(answer, outgoing);
    },
    {
      // For an HTTP/1.0 request without Host, which HTTP/1.0 allows (load balancers' health checks send them).
      hostname: 'localhost',
      errorHandler: (error) => {
        if (!(error instanceof RequestError)) return internalError();
        return refusal(refusedOf(admitting, error.message), refusedHeaders);
      },
    },
  );
  const listener = (incoming: Incoming, outgoing: Outgoing) => {
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with more than one.
    const hosts = hostFieldCount(incoming.rawHeaders);
    if (hosts > 1) return refuseOn(outgoing, refusedOf(incoming, 'more than one Host header field'));
    if (hosts === 0 && incoming.httpVersion !== '1.0') return refuseOn(outgoing, refusedOf(incoming, 'Missing host header'));
    admitting = incoming;
    try {
      return handle(incoming, outgoing);
    } finally {
      admitting = undefined;
    }
  };
  // Idle keep-alive connections stay open longer than clients and proxies keep theirs (Node's own
  // default is 5 s): a server closing one just as a client reuses it makes that request fail with a reset.
  // Host is checked above, to answer as the app would (a JSON body, a traceresponse), where Node's
  // own check answers 400 with nothing.
  // requestTimeout bounds a request's arrival, body included (408); Node refuses a headersTimeout above it.
  const server = createServer(
    {
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: Math.min(KEEP_ALIVE_TIMEOUT_MS + 1000, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: checkIntervalOf(requestTimeoutMs),
      requireHostHeader: false,
    },
    listener,
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    // A request whose body did not arrive in time (Node's requestTimeout): the newest request on the
    // connection, not necessarily the one being answered (a pipelined request behind a slow answer).
    const late = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? latest.get(socket as Socket) : undefined;
    if (late && !late.req.complete && socket.writable) return bodyLate(late, socket);
    answerClientError(error, socket);
  });
  /**
   * The app's read of `outgoing`'s request fails as on Deno, and the app answers the 408 through its
   * own span, after any answer before it, on a connection that then closes (the rest of the body is
   * not read). Emitting, not destroying: destroying the request would take the connection, and the
   * app's answer, with it.
   */
  const bodyLate = (outgoing: Outgoing, socket: import('node:stream').Duplex) => {
    outgoing.shouldKeepAlive = false;
    // Answered without its body read (a GET with one, a 404): the request has its one answer; the
    // connection closes once that is sent, rather than carrying a second answer to the same request.
    if (outgoing.writableEnded) {
      if (outgoing.writableFinished) socket.end();
      else outgoing.once('finish', () => socket.end());
      return;
    }
    const timedOut = bodyTimeout(requestTimeoutMs);
    // Read by nothing yet (no listener), the request's error would be thrown: the app is not waiting for the
    // body, and the 408 goes out on the connection itself, after the answers before it.
    if (outgoing.req.listenerCount('error') > 0) outgoing.req.emit('error', timedOut);
    else answerClientError(Object.assign(new Error(timedOut.message), { code: 'ERR_HTTP_REQUEST_TIMEOUT', bodyLate: true }), socket);
  };
  // CONNECT (authority-form, for proxies): Node hands it to 'connect' listeners and, with none, drops
  // the connection without a word. Refused as on Deno, on the socket: there is no response object.
  server.on('connect', (incoming: Incoming, socket: import('node:stream').Duplex) => {
    const refused = refusedOf(incoming, CONNECT_REFUSED);
    const refuse = () => socket.end(rawRefusal('400 Bad Request', refused.reason, refusedHeaders?.(refused)));
    // The answer to a request sent before it on the connection (pipelined) goes out first, whole.
    const previous = latest.get(incoming.socket);
    if (previous && !previous.writableFinished) previous.once('close', refuse);
    else refuse();
  });
  // An Expect other than 100-continue (RFC 9110 §10.1.1: 417), answered the same way.
  server.on('checkExpectation', (incoming: Incoming, outgoing: Outgoing) =>
    refuseOn(outgoing, refusedOf(incoming, `expectation ${JSON.stringify(incoming.headers.expect)} is not supported; only 100-continue is`, 417)),
  );
  const bind = (on: string) => {
    const { promise, resolve, reject } = withResolvers<number>();
    server.once('error', reject);
    // ipv6Only false, libuv's default too: a socket on :: takes IPv4 whatever net.ipv6.bindv6only says.
    server.listen({ port, host: on, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve((server.address() as import('node:net').AddressInfo).port);
    });
    return promise;
  };
  // The latest answer on each open connection. A stop ends each connection once that answer has been
  // handed to it, and end() sends what is buffered before closing: Node's own closeIdleConnections (which
  // http.Server's close() calls) destroys a connection whose answer is still being written to a slow client.
  const latest = new Map<Socket, Outgoing | undefined>();
  let stopping = false;
  const endWhenAnswered = (socket: Socket) => {
    const outgoing = latest.get(socket);
    if (!outgoing || outgoing.writableEnded) socket.end();
    else outgoing.once('close', () => endWhenAnswered(socket));
  };
  server.on('connection', (socket: Socket) => {
    latest.set(socket, undefined);
    socket.once('close', () => latest.delete(socket));
  });
  server.on('request', (incoming: Incoming, outgoing: Outgoing) => {
    latest.set(incoming.socket, outgoing);
    // A request on a connection kept open through the stop: that connection ends after its answer.
    if (stopping) outgoing.once('close', () => endWhenAnswered(incoming.socket));
  });
  let host = hostname;
  let ipv6Unavailable: string | undefined;
  const bound = await bind(hostname).catch((error: NodeJS.ErrnoException) => {
    if (hostname !== EVERY_INTERFACE || error.code !== NO_IPV6) throw error;
    [host, ipv6Unavailable] = ['0.0.0.0', NO_IPV6];
    return bind(host);
  });
  return {
    port: bound,
    host,
    ...(ipv6Unavailable && { ipv6Unavailable }),
    close: () =>
      new Promise<void>((done) => {
        stopping = true;
        // net.Server's close: no new connections; done once every connection has ended.
        NetServer.prototype.close.call(server, () => done());
        for (const socket of latest.keys()) endWhenAnswered(socket);
      }),
  };
}

/**
 * The bodies of requests still arriving on Deno, whose server bounds none, checked against the
 * bound by one timer for all (a timer per request would cost every request its setting and
 * clearing). A body is watched from its request's start until it has arrived whole, failed or been
 * cancelled; the app reading one still arriving at the bound gets `bodyTimeout(boundMs)` instead of
 * the rest, and answers it as any error, through its own span: one answer, one span.
 */
class Arrivals {
  readonly #open = new Set<{ deadline: number; expire(): void }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly boundMs: number) {}

  /** `request` with its body passed through as it comes, and cut at the bound. */
  watch(request: Request): Request {
    const source = request.body!.getReader();
    const entry = { deadline: Date.now() + this.boundMs, expire: () => {} };
    const done = () => this.#open.delete(entry);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => void (controller = c),
      pull: async () => {
        try {
          const { done: end, value } = await source.read();
          if (end) {
            done();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          done();
          throw error;
        }
      },
      cancel: (reason) => {
        done();
        return source.cancel(reason);
      },
    });
    entry.expire = () => {
      done();
      const error = bodyTimeout(this.boundMs);
      controller.error(error);
      source.cancel(error).catch(() => {});
    };
    this.#open.add(entry);
    this.#timer ??= this.#start();
    // Not `new Request(request, ...)`: that reads the request's signal, which Deno warns about on standard error.
    const init = { method: request.method, headers: request.headers, body, duplex: 'half' };
    return new Request(request.url, init as RequestInit);
  }

  /** The one timer, checking every tenth of the bound; it keeps no process alive. */
  #start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => {
      const now = Date.now();
      for (const entry of this.#open) if (entry.deadline <= now) entry.expire();
    }, checkIntervalOf(this.boundMs));
    const deno = (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno;
    deno?.unrefTimer(timer as unknown as number);
    return timer;
  }

  /** Stops the timer (the server is closing). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * What Node's HTTP parser refuses before the adapter sees a request (headers over Node's 16 KiB,
 * a request line that is no HTTP) is answered as Node would, with the same status (431, 413,
 * 408 or 400), but with a JSON body naming the problem where Node sends none. Deno's server
 * answers such requests itself, without a body.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  const pending = (socket as { _httpMessage?: import('node:http').ServerResponse | null })._httpMessage;
  // The answer to a request read whole before it on the connection (pipelined, its handler still at
  // work) goes out first, whole; the error is the next request's.
  if (error.code !== 'ECONNRESET' && socket.writable && pending && !pending.writableFinished && pending.req.complete) {
    pending.once('finish', () => (socket.writable ? answerClientError(error, socket) : socket.destroy()));
    return;
  }
  // A response already under way on this connection cannot be followed by another.
  if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, problem] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['431 Request Header Fields Too Large', 'request header fields too large: the request line and headers may take 16 KiB in all']
      : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? ['413 Content Too Large', 'chunk extensions too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ['408 Request Timeout', (error as { bodyLate?: boolean }).bodyLate ? error.message : 'request headers not received in time']
          : ['400 Bad Request', `malformed HTTP request (${error.code ?? 'unparsable'})`];
  socket.end(rawRefusal(status, problem));
}

/**
 * A JSON answer `{"error": problem}` as bytes for a connection, where Node has no response object
 * to write it with (its parser refused the request, or a CONNECT), with `headers` before its own;
 * it closes the connection. `status` is the status line's code and reason, e.g. `400 Bad Request`.
 */
function rawRefusal(status: string, problem: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error: problem });
  const fields = { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' };
  return `HTTP/1.1 ${status}\r\n${Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`;
}

/**
 * `Host` as RFC 9110 §7.2 allows it: `uri-host [ ":" port ]`, the host an IP-literal or a
 * reg-name (IPv4 addresses included; RFC 3986 §3.2.2), the port at most 65535 and, as Node's
 * adapter has it, not empty.
 */
const VALID_HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9\-._~!$&'()*+,;=]+)(?::(\d+))?$/i;

/**
 * What Deno's server passes on but Node's refuses, refused the same way: a `Host` that is no host,
 * and a URL that does not parse or is not http(s). Deno builds the request's URL by putting the
 * Host value in front of the request target (or takes an absolute-form target as it is), so
 * `Host: x/health?` would make the app route `/health`, and `x:99999` makes no URL at all.
 */
function refusedOnDeno(request: Request): RefusedRequest | undefined {
  // Deno passes CONNECT on with the authority as its URL (`http://x:443`), which the app would route.
  // Its URL is `http://` and the target as it came.
  if (request.method === 'CONNECT') return refusedOfRequest(request, request.url.replace(/^https?:\/\//, ''), CONNECT_REFUSED, 400);
  const host = request.headers.get('host');
  const valid = host ? VALID_HOST.exec(host) : undefined;
  // None (HTTP/1.0) or empty: Deno puts its own address in the URL.
  const hostProblem = host && !(valid && !(Number(valid[1]) > 65535));
  const url = request.url;
  if (!hostProblem && URL.canParse(url) && /^https?:/.test(url)) return undefined;
  // The target as it came: what follows the Host value in the URL Deno built, or the URL itself.
  const prefix = `http://${host}`;
  const target = host && url.startsWith(`${prefix}/`) ? url.slice(prefix.length) : url;
  return refusedOfRequest(request, target, hostProblem ? 'Invalid host header' : 'Invalid URL', 400);
}

/** Why a CONNECT request is refused (400, as nginx answers it): it asks for a tunnel, which only a proxy opens. */
const CONNECT_REFUSED = 'CONNECT asks for a tunnel, which only a proxy opens: this server answers requests for its own paths';

/** A `.` or `..` segment of a path, plain or percent-encoded: `/.` or `/%2e` (a query holding one only costs a URL parse). */
const DOT_SEGMENT = /\/(?:\.|%2e)/i;

/**
 * The request with its URL's dot segments (`.`, `..`, `%2e`) resolved, as the Fetch standard's
 * URL and Node's adapter have it: Deno keeps the request target's path as it came, so
 * `/x/../accounts/1` would route as a path of its own on Deno and as `/accounts/1` on Node.
 */
function withDotSegmentsResolved(request: Request): Request {
  if (!DOT_SEGMENT.test(request.url)) return request;
  const url = new URL(request.url).href;
  if (url === request.url) return request;
  // Not `new Request(url, request)`: that reads the request's signal, which Deno warns about on standard error.
  const init = { method: request.method, headers: request.headers, body: request.body, duplex: 'half' };
  return new Request(url, init as RequestInit);
}

/** A request that comes once close has begun, on Deno: refused with 503, as the server no longer takes work. */
function shuttingDown(request: Request): RefusedRequest {
  const url = new URL(request.url);
  return refusedOfRequest(request, url.pathname + url.search, 'shutting down: try again', 503);
}

/** A refusal of a fetch `Request` (Deno's), `target` being its request target as it came. */
function refusedOfRequest(request: Request, target: string, reason: string, status: number): RefusedRequest {
  const header = (name: string) => request.headers.get(name) ?? undefined;
  return { method: request.method, target, path: targetPath(target), header, reason, status };
}

/** The number of Host field lines among Node's raw headers (name, value, name, value...). */
function hostFieldCount(rawHeaders: string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === 4 && rawHeaders[i]!.toLowerCase() === 'host') count++;
  return count;
}

/** The JSON 400 (or 417, or 503) answering a refused request, with the headers the caller adds (its traceresponse). */
function refusal(refused: RefusedRequest, refusedHeaders: ListenOptions['refusedHeaders']): Response {
  return Response.json({ error: refused.reason }, { status: refused.status, headers: refusedHeaders?.(refused) });
}

/**
 * The path of a request target, without its query: origin-form `/p?q`, or absolute-form
 * `http://user:pass@host/p?q` (RFC 9112 §3.2), whose scheme and authority it leaves out; of
 * CONNECT's authority-form `host:port`, which has no path, that authority without credentials.
 */
export function targetPath(target: string): string {
  if (!target.includes('/')) return target.slice(target.lastIndexOf('@') + 1).split(/[?#]/, 1)[0] || '/';
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(target);
  const slash = scheme ? target.indexOf('/', scheme[0].length) : 0;
  const path = slash < 0 ? '/' : target.slice(slash);
  return path.split(/[?#]/, 1)[0] || '/';
}

/**
 * Deno answers a HEAD whose response has no body and no `content-length` with
 * `content-length: 0`, which RFC 9110 §8.6 forbids unless the GET's content is empty: an
 * empty body stream makes it send no length at all, as Node does. Not for a status that has
 * no content (204, 205, 304), which a Response with a body cannot have, and Deno sends no length for.
 */
function withoutInventedLength(request: Request, response: Response): Response {
  if (request.method !== 'HEAD' || response.body !== null || response.headers.has('content-length')) return response;
  if (response.status === 204 || response.status === 205 || response.status === 304) return response;
  return new Response(new ReadableStream({ start: (controller) => controller.close() }), response);
}

/** The names of the answer headers `withAnswerHeaders` set on a Response, for each Response it set some on. */
const answerHeadersSet = new WeakMap<Response, string[]>();

/**
 * `response` with `headers` added (on Deno), where the app did not set a header of the same name
 * on it itself (on Node, the app's Response wins over `setHeader` alike). One the app did not set
 * is replaced: a field of a Response whose headers cannot change (one from `fetch`, passed through
 * from another server, whose fields name that server's work), and one this function set on the same
 * Response for an earlier answer (a Response the app keeps and answers with again). Both are
 * answered with a copy: the kept Response may still be on its way out for that earlier answer, and
 * changing it would give that answer this one's fields.
 */
function withAnswerHeaders(response: Response, headers: Array<[string, string]>): Response {
  const fields = response.headers;
  const earlier = answerHeadersSet.get(response);
  const added = headers.filter(([name]) => !fields.has(name) || earlier?.includes(name) || headersFixed(fields));
  if (added.length === 0) return response;
  if (!earlier) {
    try {
      for (const [name, value] of added) fields.set(name, value);
      answerHeadersSet.set(response, added.map(([name]) => name));
      return response;
    } catch {
      // Headers that cannot change (the first set throws, so none was set): copied below.
    }
  }
  const copy = new Response(response.body, response);
  for (const [name, value] of added) copy.headers.set(name, value);
  return copy;
}

/**
 * The answer to a request the app did not answer: its error handler threw, or it answered
 * `Response.error()`, which no server can send.
 */
function internalError(): Response {
  return Response.json({ error: 'internal error' }, { status: 500 });
}

/**
 * On Node, `response` without the fields that the answer headers set on Node's response object
 * (`setAnswerHeader`) would otherwise lose to, where it is passed through from another server (a
 * Response from `fetch`): a copy then. `Response.error()`, which no server can send, is answered
 * 500. A Response the app built (@hono/node-server's own class, whose headers are not read here:
 * that keeps its fast path) is sent as it is.
 */
function withoutPassedOnFields(response: Response, outgoing: { getHeaderNames(): string[] } | undefined): Response {
  if (!outgoing || Object.getPrototypeOf(response) === Response.prototype) return response;
  if (response.type === 'error') return internalError();
  if (!headersFixed(response.headers)) return response;
  const names = outgoing.getHeaderNames().filter((name) => response.headers.has(name));
  if (names.length === 0) return response;
  const copy = new Response(response.body, response);
  for (const name of names) copy.headers.delete(name);
  return copy;
}

/**
 * Whether `headers` cannot change: those of a Response from `fetch` or `Response.redirect`, whose
 * fields no handler of this app set. (Deleting a field is refused on such headers before the name
 * is looked up.)
 */
function headersFixed(headers: Headers): boolean {
  try {
    headers.delete('x-no-such-field');
    return false;
  } catch {
    return true;
  }
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
