/**
 * One HTTP exchange between services, over the client that costs least on the runtime:
 *
 * - **Node**: undici's `request` through a keep-alive connection pool (an undici `Agent`).
 *   undici is the library Node's own `fetch` is built on; its `request` skips the WHATWG
 *   layers (Headers validation, web streams, Response objects) and costs about a quarter of
 *   `fetch`'s CPU per call (BENCHMARKS.md, Findings).
 * - **Deno**: the runtime's `fetch`, which is native there: undici also runs under Deno,
 *   but costs the same per call and loads a Node-compat stack besides.
 *
 * Both behave as `fetch` does: an aborted signal rejects the exchange, or the body still
 * being read, with the signal's reason (a `TimeoutError` DOMException for
 * `AbortSignal.timeout`); a refused or reset connection rejects with an Error; any status
 * resolves. A response's body must be read (`json`) or discarded (`discard`), so its
 * connection goes back to the pool.
 *
 * A time limit is best given as `timeoutMs` rather than as a signal: it then rejects as
 * `AbortSignal.timeout` would, and costs less on Node. There, undici also takes an EventEmitter
 * with `aborted` and `reason` for a signal, and listening on one costs a fraction of an
 * AbortSignal's `addEventListener` (on Node 20 a call with a signal of its own cost 9 µs of CPU
 * more than one without, and a ServiceClient call with `timeoutMs` 7–9 µs less than with a
 * signal: BENCHMARKS.md, Findings).
 *
 * @example
 * ```ts
 * const transport = createHttpTransport()
 * const response = await transport.send({ method: 'GET', url, headers: { accept: 'application/json' }, signal })
 * if (response.status !== 200) await response.discard()
 * else use(await response.json())
 * ```
 */
import { EventEmitter } from 'node:events';
import type { Dispatcher } from 'undici';

export interface HttpRequest {
  method: string;
  url: URL | string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Sent as it is: text as UTF-8, bytes unchanged (undici writes a Uint8Array without copying it). */
  body?: string | Uint8Array<ArrayBuffer>;
  /** Aborts the exchange, the body included. */
  signal?: AbortSignal;
  /**
   * Time allowed for the exchange, the body included, in milliseconds: past it the exchange, or
   * the body still being read, rejects with a `TimeoutError` DOMException (see `isTimeout`).
   */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** A 2xx status. */
  ok: boolean;
  /** A response header's value (`name` in lower case), several joined with `, `; undefined when absent. */
  header(name: string): string | undefined;
  /** Reads the body as JSON; rejects when it is not JSON, or with the signal's reason on abort. */
  json(): Promise<unknown>;
  /** Reads the body as UTF-8 text; rejects with the signal's reason on abort. */
  text(): Promise<string>;
  /** Reads and drops the body, so the connection returns to the pool. */
  discard(): Promise<void>;
}

export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Closes the pool's connections (Node); exchanges in flight finish first. */
  close(): Promise<void>;
}

export interface HttpTransportOptions {
  /**
   * Connections per origin at most (Node; Deno's fetch manages its own pool). Unbounded by
   * default, as the circuit breaker in front lets every call through while closed: a call
   * it admitted never waits in a queue of the pool's that its deadline does not see.
   */
  connections?: number;
  /** How long an idle connection is kept for the next call, unless the server says less (Node). */
  keepAliveMs?: number;
  /** Uses the runtime's `fetch` on Node too, as on Deno (to compare the two, and to test Deno's path on Node). */
  fetch?: boolean;
}

type Undici = typeof import('undici');

/** The error an exchange past its `timeoutMs` rejects with: the one `AbortSignal.timeout` aborts with. */
export function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'TimeoutError';
}

function timeoutError(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** An exchange's signal or time limit: given both (not a case the services have), one signal, aborted by whichever comes first. */
function oneLimit({ signal, timeoutMs }: HttpRequest): { signal?: AbortSignal; timeoutMs?: number } {
  if (signal && timeoutMs !== undefined) return { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) };
  return { signal, timeoutMs };
}

const isDeno = 'Deno' in globalThis;
// Loaded on Node only: Deno keeps its native fetch and does not pay for undici's modules.
const undici = isDeno ? undefined : await import('undici');

/** A transport for the runtime running this code. */
export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  return undici && !options.fetch ? undiciTransport(undici, options) : fetchTransport();
}

function undiciTransport(
  { Agent, request }: Undici,
  { connections, keepAliveMs = 4000 }: HttpTransportOptions,
): HttpTransport {
  // undici takes a server's keep-alive hint (less its threshold) over keepAliveTimeout, up to
  // keepAliveMaxTimeout: both bound it here, so an idle connection lasts the shorter of the two.
  const agent = new Agent({ connections: connections ?? null, keepAliveTimeout: keepAliveMs, keepAliveMaxTimeout: keepAliveMs });
  return {
    async send(exchange) {
      const { method, url, headers, body } = exchange;
      const { signal, timeoutMs } = oneLimit(exchange);
      const timeout = timeoutMs === undefined ? undefined : new Timeout(timeoutMs);
      try {
        const response = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, signal: timeout ?? signal, dispatcher: agent });
        // The body closes when it has been read, discarded or cut off: no time limit is left running past it.
        if (timeout) response.body.once('close', () => timeout.clear());
        return new UndiciResponse(response);
      } catch (error) {
        timeout?.clear();
        throw error;
      }
    },
    close: () => agent.close(),
  };
}

/** A time limit in the form of a signal undici's `request` takes: an EventEmitter with `aborted` and `reason`. */
class Timeout extends EventEmitter {
  aborted = false;
  reason: DOMException | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(ms: number) {
    super();
    this.#timer = setTimeout(() => {
      this.aborted = true;
      this.reason = timeoutError();
      this.emit('abort');
    }, ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * A response read through undici. The responses are classes rather than object literals of
 * closures: run through tsx, whose esbuild transform keeps function names, every closure in a
 * literal is named with its own Object.defineProperty call, about 0.3 µs each (Node 20).
 */
class UndiciResponse implements HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly #response: Dispatcher.ResponseData;

  constructor(response: Dispatcher.ResponseData) {
    this.#response = response;
    this.status = response.statusCode;
    this.ok = this.status >= 200 && this.status <= 299;
  }

  header(name: string): string | undefined {
    const value = this.#response.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  json(): Promise<unknown> {
    return this.#response.body.json();
  }

  text(): Promise<string> {
    return this.#response.body.text();
  }

  discard(): Promise<void> {
    return this.#response.body.dump();
  }
}

/** What is read of a body being discarded before the connection is given up instead (undici's `dump` default). */
const DISCARD_LIMIT = 128 * 1024;

function fetchTransport(): HttpTransport {
  return {
    async send(exchange) {
      const { method, url, headers, body } = exchange;
      const { signal, timeoutMs } = oneLimit(exchange);
      if (timeoutMs === undefined) return new FetchResponse(await fetch(url, { method, headers, body, signal }));
      // A controller and a timer of its own rather than AbortSignal.timeout, whose timer cannot be stopped
      // and would fire for every exchange long after it ended.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(timeoutError()), timeoutMs);
      try {
        return new FetchResponse(await fetch(url, { method, headers, body, signal: controller.signal }), timer);
      } catch (error) {
        clearTimeout(timer);
        throw error;
      }
    },
    close: async () => {},
  };
}

/** A response read through `fetch`. */
class FetchResponse implements HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly #response: Response;
  /** The exchange's time limit, stopped once the body is read or discarded. */
  readonly #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(response: Response, timer?: ReturnType<typeof setTimeout>) {
    this.#response = response;
    this.#timer = timer;
    this.status = response.status;
    this.ok = response.ok;
  }

  header(name: string): string | undefined {
    return this.#response.headers.get(name) ?? undefined;
  }

  json(): Promise<unknown> {
    return this.#read(this.#response.json());
  }

  text(): Promise<string> {
    return this.#read(this.#response.text());
  }

  discard(): Promise<void> {
    return this.#read(drain(this.#response.body));
  }

  async #read<T>(reading: Promise<T>): Promise<T> {
    try {
      return await reading;
    } finally {
      clearTimeout(this.#timer);
    }
  }
}

/** Reads a body to its end, up to DISCARD_LIMIT bytes: a body left unread would cost the connection. */
async function drain(body: ReadableStream<Uint8Array> | null): Promise<void> {
  if (!body) return;
  const reader = body.getReader();
  for (let read = 0; read <= DISCARD_LIMIT; ) {
    const chunk = await reader.read();
    if (chunk.done) return;
    read += chunk.value.byteLength;
  }
  await reader.cancel();
}
