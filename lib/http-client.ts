/**
 * The resilient, traced client for calls between services.
 *
 * A call goes through one circuit breaker per remote service (opossum), and inside
 * it through bounded retries (p-retry: constant short backoff, never on 4xx), all within
 * the call's deadline: each attempt may take the attempt timeout or what is left of the
 * deadline, whichever is less. Retries also draw on a retry budget per remote service,
 * so that a saturated service is not sent more work exactly when it can least take it.
 * Every attempt is its own CLIENT span carrying the context downstream in B3 and W3C
 * headers. The attempt's own timer is the only one a call sets: no retry starts that the
 * deadline leaves no time for, so when the deadline passes it is the attempt in flight that
 * is aborted, its span ending then, tagged `aborted`; the call returns only after that, so
 * no attempt span outlives the caller's span. (The breaker therefore has no timeout of its
 * own: it would repeat the deadline, at the cost of a second timer per call.) When the call
 * fails or the breaker is open, the caller gets the fallback and the parent span says why.
 *
 * Each client keeps its own pool of kept-alive connections (lib/http-transport.ts), the one
 * place the runtime's HTTP client shows.
 */
import CircuitBreaker from 'opossum';
import pRetry, { AbortError } from 'p-retry';
import type { EnvReader } from './config.ts';
import { createHttpTransport, isTimeout } from './http-transport.ts';
import { msSince, type Logger } from './log.ts';
import { defaultRetryBudgetSettings, RetryBudget, type RetryBudgetSettings } from './retry-budget.ts';
import type { Span } from './tracing/span.ts';

export interface RetrySettings {
  /** Attempts per call, the first included. */
  attempts: number;
  /** Pause between attempts, in milliseconds. */
  delayMs: number;
  /** Time allowed for one attempt, in milliseconds (less when less of the deadline is left). */
  attemptTimeoutMs: number;
  /** Time allowed for the whole call, retries included, in milliseconds. */
  deadlineMs: number;
}

export interface BreakerSettings {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage: number;
  /** Calls in the window before the percentage counts. */
  volumeThreshold: number;
  /** How long the breaker stays open before letting one call through. */
  resetTimeoutMs: number;
  /** The rolling window. */
  windowMs: number;
}

export const defaultRetrySettings: RetrySettings = { attempts: 3, delayMs: 20, attemptTimeoutMs: 1000, deadlineMs: 2500 };
export const defaultBreakerSettings: BreakerSettings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  resetTimeoutMs: 5000,
  windowMs: 10_000,
};

/** Retry, retry budget and breaker settings from the environment (RETRY_*, RETRY_BUDGET_*, BREAKER_*), defaults where unset. */
export function resilienceFromEnv(env: EnvReader): { retry: RetrySettings; retryBudget: RetryBudgetSettings; breaker: BreakerSettings } {
  const r = defaultRetrySettings;
  const rb = defaultRetryBudgetSettings;
  const b = defaultBreakerSettings;
  return {
    retry: {
      attempts: env.integer('RETRY_ATTEMPTS', r.attempts, { min: 1, max: 10 }),
      delayMs: env.milliseconds('RETRY_DELAY_MS', r.delayMs, { min: 0, max: 10_000 }),
      attemptTimeoutMs: env.milliseconds('RETRY_ATTEMPT_TIMEOUT_MS', r.attemptTimeoutMs, { min: 1, max: 60_000 }),
      deadlineMs: env.milliseconds('RETRY_DEADLINE_MS', r.deadlineMs, { min: 1, max: 120_000 }),
    },
    retryBudget: {
      percent: env.number('RETRY_BUDGET_PERCENT', rb.percent, { min: 0, max: 100 }),
      minPerSecond: env.number('RETRY_BUDGET_MIN_PER_SECOND', rb.minPerSecond, { min: 0, max: 1000 }),
      windowMs: env.milliseconds('RETRY_BUDGET_WINDOW_MS', rb.windowMs, { min: 100, max: 600_000 }),
    },
    breaker: {
      errorThresholdPercentage: env.number('BREAKER_ERROR_PERCENTAGE', b.errorThresholdPercentage, { min: 1, max: 100 }),
      volumeThreshold: env.integer('BREAKER_VOLUME_THRESHOLD', b.volumeThreshold, { min: 0 }),
      resetTimeoutMs: env.milliseconds('BREAKER_RESET_TIMEOUT_MS', b.resetTimeoutMs, { min: 1 }),
      windowMs: env.milliseconds('BREAKER_WINDOW_MS', b.windowMs, { min: 100 }),
    },
  };
}

export interface ServiceClientOptions<T> {
  /** The remote service's name, as it appears in spans. */
  service: string;
  baseUrl: string;
  /** What the caller gets when the call fails or the breaker is open. */
  fallback: () => T;
  log: Logger;
  retry?: Partial<RetrySettings>;
  retryBudget?: Partial<RetryBudgetSettings>;
  breaker?: Partial<BreakerSettings>;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface RequestOptions {
  method?: string;
  /** Sent as a JSON body. */
  json?: unknown;
}

/** A 4xx answer: the request was wrong, so retrying or blaming the service is pointless. */
class ClientError extends Error {
  override name = 'ClientError';
}

/**
 * Why an attempt was aborted; the value of its span's `aborted` tag: `deadline` when what was
 * left of the call's deadline was less than the attempt timeout.
 */
export type AbortCause = 'attempt timeout' | 'deadline';

/** What an attempt past its time limit fails with. */
class AttemptAborted extends Error {
  override name = 'AttemptAborted';
  constructor(readonly abortCause: AbortCause, afterMs: number) {
    super(`${abortCause}: attempt aborted after ${Math.round(afterMs)} ms`);
  }
}

/** What a call fails with when its deadline passed before a retry could start. */
class DeadlineReached extends Error {
  override name = 'DeadlineReached';
  constructor(attempt: number, deadlineMs: number) {
    super(`deadline: ${deadlineMs} ms passed before attempt ${attempt} could start`);
  }
}

/** The least time left of the deadline for which a retry is still sent, in ms. */
const MIN_ATTEMPT_MS = 1;

/** One call (all its attempts): the span it is made under, and its deadline. */
class Call {
  readonly #started = performance.now();

  constructor(
    readonly parent: Span,
    readonly deadlineMs: number,
  ) {}

  get remainingMs(): number {
    return this.deadlineMs - (performance.now() - this.#started);
  }
}

/*
 * p-retry copies its options and fills in the ones missing with its defaults; on Node 20 each
 * property added to that copy cost about 1.2 µs, 7 µs a call in all, where a call given every
 * option costs 0.5. So ServiceClient gives them all, these two as p-retry's own defaults.
 */
const ignoreFailedAttempt = (): void => {};
const consumeRetry = (): boolean => true;

/** How many resolved URLs a client keeps (see ServiceClient.#resolve). */
const MAX_CACHED_URLS = 1024;

type Breaker = CircuitBreaker<[Call, string, string, RequestOptions], unknown>;

export class ServiceClient<T> {
  readonly service: string;
  readonly #baseUrl: string;
  /** Resolved URLs by path: a service calls the same few paths over and over, and parsing one costs more than the rest of a span. */
  readonly #urls = new Map<string, URL>();
  readonly #fallback: () => T;
  readonly #retry: RetrySettings;
  readonly #log: Logger;
  readonly #budget: RetryBudget;
  readonly #transport = createHttpTransport();
  readonly #breaker: Breaker;
  /** The call whose failure or success last settled in the breaker: the one that changed its state, if any did. */
  #settling: Call | undefined;

  constructor({ service, baseUrl, fallback, log, retry, retryBudget, breaker }: ServiceClientOptions<T>) {
    this.service = service;
    this.#baseUrl = baseUrl;
    this.#fallback = fallback;
    this.#retry = { ...defaultRetrySettings, ...retry };
    this.#log = log;
    this.#budget = new RetryBudget({ ...defaultRetryBudgetSettings, ...retryBudget });
    const settings = { ...defaultBreakerSettings, ...breaker };
    this.#breaker = new CircuitBreaker((call: Call, path: string, name: string, options: RequestOptions) => this.#withRetries(call, path, name, options), {
      // The attempts' timers keep the deadline (see #attempt).
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      volumeThreshold: settings.volumeThreshold,
      resetTimeout: settings.resetTimeoutMs,
      rollingCountTimeout: settings.windowMs,
      errorFilter: (error: unknown) => error instanceof ClientError,
    });
    // opossum emits 'open' and 'close' synchronously while it settles one call, right after
    // 'failure' (with that call's arguments) or, for the half-open trial, the only call let through.
    this.#breaker.on('failure', (_error: unknown, _latency: number, args: unknown[]) => (this.#settling = args[0] as Call));
    const report = (call?: Call) => {
      const ids = call && { traceId: call.parent.traceId, spanId: call.parent.spanId };
      log.warn('circuit breaker changed state', { remoteService: service, state: this.state, ...ids });
    };
    this.#breaker.on('open', () => report(this.#settling));
    // Half-open comes from the reset timer, not from a request.
    this.#breaker.on('halfOpen', () => report());
    this.#breaker.on('close', () => report(this.#settling));
  }

  get state(): BreakerState {
    if (this.#breaker.opened) return 'open';
    return this.#breaker.halfOpen ? 'half-open' : 'closed';
  }

  /**
   * Requests `path` (relative to the base URL, or absolute) and parses the JSON answer,
   * under the span `name` below `parent`. Never rejects: failures give the fallback.
   */
  async fetchJson(path: string, parent: Span, name: string, options: RequestOptions = {}): Promise<T> {
    const before = this.state;
    const call = new Call(parent, this.#retry.deadlineMs);
    try {
      return (await this.#breaker.fire(call, path, name, options)) as T;
    } catch (error) {
      // The breaker rejects only once the retries have ended, or without running them when it is open.
      const reason = this.#breaker.opened && before === 'open' ? 'circuit breaker open' : describe(error);
      if (this.#log.enabled('debug')) {
        this.#log.debug('fallback', { traceId: parent.traceId, spanId: parent.spanId, remoteService: this.service, reason });
      }
      parent.annotate(`${this.service} fallback: ${reason}`);
      parent.tag(`fallback.${this.service}`, reason);
      return this.#fallback();
    } finally {
      const after = this.state;
      if (after !== before) parent.annotate(`${this.service} circuit breaker ${after}`);
    }
  }

  /** Stops the breaker's timers and closes the client's connections. */
  close(): void {
    this.#breaker.shutdown();
    void this.#transport.close();
  }

  /** `path` resolved against the base URL; the transport and the span only read it. */
  #resolve(path: string): URL {
    let url = this.#urls.get(path);
    if (url === undefined) {
      // Bounded: paths carrying ids are many; the most recent ones are kept.
      if (this.#urls.size >= MAX_CACHED_URLS) this.#urls.clear();
      this.#urls.set(path, (url = new URL(path, this.#baseUrl)));
    }
    return url;
  }

  #withRetries(call: Call, path: string, name: string, options: RequestOptions): Promise<unknown> {
    const { attempts, delayMs } = this.#retry;
    this.#budget.recordCall();
    // In half-open state the breaker lets this one call through: it is the trial that closes it.
    if (this.#breaker.halfOpen) this.#settling = call;
    return pRetry((attempt) => this.#attempt(call, path, name, options, attempt), {
      retries: attempts - 1,
      minTimeout: delayMs,
      maxTimeout: delayMs,
      factor: 1,
      // Bound rather than an arrow function, which tsx would name with Object.defineProperty on every call.
      shouldRetry: this.#mayRetry.bind(this, call),
      // p-retry's own defaults, written out (not spread in: that costs the same) so it has none to add.
      maxRetryTime: Number.POSITIVE_INFINITY,
      randomize: false,
      onFailedAttempt: ignoreFailedAttempt,
      shouldConsumeRetry: consumeRetry,
    });
  }

  /** No retry when no time is left for it, nor beyond the budget (which then says so on the span). */
  #mayRetry(call: Call): boolean {
    if (call.remainingMs <= this.#retry.delayMs) return false;
    if (this.#budget.tryRetry()) return true;
    call.parent.annotate(`${this.service} retry refused: retry budget spent`);
    return false;
  }

  async #attempt(call: Call, path: string, name: string, { method = 'GET', json }: RequestOptions, attempt: number): Promise<unknown> {
    // #mayRetry saw time left before the pause, but a timer can fire late on a busy event loop: a retry
    // that would start with less than MIN_ATTEMPT_MS of the deadline left is not sent at all.
    if (attempt > 1 && call.remainingMs < MIN_ATTEMPT_MS) {
      call.parent.annotate(`${this.service} retry not sent: deadline reached`);
      throw new AbortError(new DeadlineReached(attempt, call.deadlineMs));
    }
    const span = call.parent.child(name, { kind: 'CLIENT', remoteService: this.service });
    const url = this.#resolve(path);
    span.tag('http.method', method);
    span.tag('http.path', url.pathname);
    if (attempt > 1) span.tag('retry.attempt', attempt);
    // A plain record: fetch validates it once, where a Headers object is validated on every set and again when copied.
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json !== undefined) headers['content-type'] = 'application/json';
    span.inject((key, value) => (headers[key] = value));

    // Its own time limit: the attempt's, or the rest of the deadline if that is less.
    const timeoutMs = Math.max(Math.min(this.#retry.attemptTimeoutMs, call.remainingMs), 0);
    const cause: AbortCause = timeoutMs < this.#retry.attemptTimeoutMs ? 'deadline' : 'attempt timeout';
    const debug = this.#log.enabled('debug');
    const started = debug ? performance.now() : 0;
    let status: number | undefined;
    let failure: unknown;
    try {
      const response = await this.#transport.send({ method, url, headers, body: serialize(json), timeoutMs });
      status = response.status;
      span.tag('http.status_code', response.status);
      if (!response.ok) {
        await response.discard();
        const message = `${this.service} answered ${response.status}`;
        if (response.status < 500) throw new AbortError(new ClientError(message));
        throw new Error(message);
      }
      return await response.json();
    } catch (error) {
      const aborted = isTimeout(error) ? new AttemptAborted(cause, timeoutMs) : undefined;
      if (aborted) span.tag('aborted', aborted.abortCause);
      failure = aborted ?? error;
      span.fail(aborted ?? (error instanceof AbortError ? error.originalError : error));
      // Network and timeout errors arrive as TypeError/DOMException; normalise so they are retried.
      throw error instanceof AbortError || error instanceof ClientError ? error : new Error(describe(aborted ?? error));
    } finally {
      span.finish();
      if (debug) {
        this.#log.debug('call attempt', {
          traceId: span.traceId,
          spanId: span.spanId,
          remoteService: this.service,
          method,
          path: url.pathname,
          attempt,
          attempts: this.#retry.attempts,
          status,
          durationMs: msSince(started),
          error: failure === undefined ? undefined : describe(failure),
        });
      }
    }
  }
}

/**
 * The JSON text of a request body, undefined (no body) for undefined. A value JSON cannot
 * hold (a BigInt, a cycle) is the caller's error, like a 4xx: not retried, not the service's failure.
 */
function serialize(json: unknown): string | undefined {
  try {
    return JSON.stringify(json);
  } catch (error) {
    throw new AbortError(new ClientError(`request body: ${describe(error)}`));
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
