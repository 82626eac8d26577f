/**
 * The resilient, traced client for calls between services.
 *
 * A call goes through one circuit breaker per remote service (opossum), and inside
 * it through bounded retries (p-retry: constant short backoff, never on 4xx, all
 * within a deadline). Every attempt is its own CLIENT span carrying the context
 * downstream in B3 and W3C headers. When the call fails or the breaker is open, the
 * caller gets the fallback and the parent span says why.
 *
 * Connections are pooled and kept alive by the runtime's fetch.
 */
import CircuitBreaker from 'opossum';
import pRetry, { AbortError } from 'p-retry';
import type { EnvReader } from './config.ts';
import { msSince, type Logger } from './log.ts';
import type { Span } from './tracing/span.ts';

export interface RetrySettings {
  /** Attempts per call, the first included. */
  attempts: number;
  /** Pause between attempts. */
  delayMs: number;
  /** Time allowed for one attempt. */
  attemptTimeoutMs: number;
  /** Time allowed for the whole call, retries included. */
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

/** Retry and breaker settings from the environment (RETRY_*, BREAKER_*), defaults where unset. */
export function resilienceFromEnv(env: EnvReader): { retry: RetrySettings; breaker: BreakerSettings } {
  const r = defaultRetrySettings;
  const b = defaultBreakerSettings;
  return {
    retry: {
      attempts: env.integer('RETRY_ATTEMPTS', r.attempts, { min: 1, max: 10 }),
      delayMs: env.integer('RETRY_DELAY_MS', r.delayMs, { min: 0, max: 10_000 }),
      attemptTimeoutMs: env.integer('RETRY_ATTEMPT_TIMEOUT_MS', r.attemptTimeoutMs, { min: 1, max: 60_000 }),
      deadlineMs: env.integer('RETRY_DEADLINE_MS', r.deadlineMs, { min: 1, max: 120_000 }),
    },
    breaker: {
      errorThresholdPercentage: env.number('BREAKER_ERROR_PERCENTAGE', b.errorThresholdPercentage, { min: 1, max: 100 }),
      volumeThreshold: env.integer('BREAKER_VOLUME_THRESHOLD', b.volumeThreshold, { min: 0 }),
      resetTimeoutMs: env.integer('BREAKER_RESET_TIMEOUT_MS', b.resetTimeoutMs, { min: 1 }),
      windowMs: env.integer('BREAKER_WINDOW_MS', b.windowMs, { min: 100 }),
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

export class ServiceClient<T> {
  readonly service: string;
  readonly #baseUrl: string;
  readonly #fallback: () => T;
  readonly #retry: RetrySettings;
  readonly #log: Logger;
  readonly #breaker: CircuitBreaker<[string, Span, string, RequestOptions], T>;

  constructor({ service, baseUrl, fallback, log, retry, breaker }: ServiceClientOptions<T>) {
    this.service = service;
    this.#baseUrl = baseUrl;
    this.#fallback = fallback;
    this.#retry = { ...defaultRetrySettings, ...retry };
    this.#log = log;
    const settings = { ...defaultBreakerSettings, ...breaker };
    this.#breaker = new CircuitBreaker(
      (path: string, parent: Span, name: string, options: RequestOptions) => this.#withRetries(path, parent, name, options),
      {
      timeout: this.#retry.deadlineMs,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      volumeThreshold: settings.volumeThreshold,
      resetTimeout: settings.resetTimeoutMs,
      rollingCountTimeout: settings.windowMs,
      errorFilter: (error: unknown) => error instanceof ClientError,
      },
    );
    const report = () => log.warn('circuit breaker changed state', { service, state: this.state });
    this.#breaker.on('open', report);
    this.#breaker.on('halfOpen', report);
    this.#breaker.on('close', report);
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
    try {
      return await this.#breaker.fire(path, parent, name, options);
    } catch (error) {
      const reason = this.#breaker.opened && before === 'open' ? 'circuit breaker open' : describe(error);
      if (this.#log.enabled('debug')) {
        this.#log.debug('fallback', { traceId: parent.traceId, spanId: parent.spanId, service: this.service, reason });
      }
      parent.annotate(`${this.service} fallback: ${reason}`);
      parent.tag(`fallback.${this.service}`, reason);
      return this.#fallback();
    } finally {
      const after = this.state;
      if (after !== before) parent.annotate(`${this.service} circuit breaker ${after}`);
    }
  }

  /** Stops the breaker's timers. */
  close(): void {
    this.#breaker.shutdown();
  }

  #withRetries(path: string, parent: Span, name: string, options: RequestOptions): Promise<T> {
    const { attempts, delayMs, deadlineMs } = this.#retry;
    return pRetry((attempt) => this.#attempt(path, parent, name, options, attempt), {
      retries: attempts - 1,
      minTimeout: delayMs,
      maxTimeout: delayMs,
      factor: 1,
      randomize: false,
      maxRetryTime: deadlineMs,
    });
  }

  async #attempt(path: string, parent: Span, name: string, { method = 'GET', json }: RequestOptions, attempt: number): Promise<T> {
    const span = parent.child(name, { kind: 'CLIENT', remoteService: this.service });
    const url = new URL(path, this.#baseUrl);
    span.tag('http.method', method);
    span.tag('http.path', url.pathname);
    if (attempt > 1) span.tag('retry.attempt', attempt);
    // A plain record: fetch validates it once, where a Headers object is validated on every set and again when copied.
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json !== undefined) headers['content-type'] = 'application/json';
    span.inject((key, value) => (headers[key] = value));
    // A timer cleared when the attempt ends: AbortSignal.timeout's would outlive every call by its full timeout.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException('attempt timed out', 'TimeoutError')), this.#retry.attemptTimeoutMs);
    const debug = this.#log.enabled('debug');
    const started = debug ? performance.now() : 0;
    let status: number | undefined;
    let failure: unknown;
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: abort.signal,
      });
      status = response.status;
      span.tag('http.status_code', response.status);
      if (!response.ok) {
        await response.body?.cancel();
        const message = `${this.service} answered ${response.status}`;
        if (response.status < 500) throw new AbortError(new ClientError(message));
        throw new Error(message);
      }
      return (await response.json()) as T;
    } catch (error) {
      failure = error;
      span.fail(error instanceof AbortError ? error.originalError : error);
      // Network and timeout errors arrive as TypeError/DOMException; normalise so they are retried.
      throw error instanceof AbortError || error instanceof ClientError ? error : new Error(describe(error));
    } finally {
      clearTimeout(timer);
      span.finish();
      if (debug) {
        this.#log.debug('call attempt', {
          traceId: span.traceId,
          spanId: span.spanId,
          service: this.service,
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

function describe(error: unknown): string {
  if (error instanceof AbortError) return describe(error.originalError);
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
