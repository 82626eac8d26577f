/**
 * A retry budget, as Finagle, Envoy and gRPC keep one: retries to a remote service are
 * limited to a fraction of the calls made to it recently, plus a small floor so that a
 * quiet client can still retry. When a service slows down because it is saturated, every
 * caller's attempts time out together; unbounded retries would then multiply the load
 * exactly when it hurts. With a budget, retries add at most `percent` % to the load
 * (plus the floor), however many calls fail.
 *
 * Counts are kept in a rolling window of ten buckets, so old calls stop funding retries.
 * See Finagle's RetryBudget (`percentCanRetry`, `minRetriesPerSec`, `ttl`) and Envoy's
 * `retry_budget` (`budget_percent`, `min_retry_concurrency`).
 */
export interface RetryBudgetSettings {
  /** Retries allowed, as a percentage of the calls in the window (0..100). */
  percent: number;
  /** Retries always allowed per second of the window, whatever the calls (the floor). */
  minPerSecond: number;
  /** The rolling window, in milliseconds. */
  windowMs: number;
}

export const defaultRetryBudgetSettings: RetryBudgetSettings = { percent: 20, minPerSecond: 3, windowMs: 10_000 };

const BUCKETS = 10;

export class RetryBudget {
  readonly #settings: RetryBudgetSettings;
  readonly #now: () => number;
  readonly #bucketMs: number;
  /** Per bucket: its index in time (now / bucketMs), the calls and the retries in it. */
  readonly #buckets = Array.from({ length: BUCKETS }, () => ({ at: -1, calls: 0, retries: 0 }));

  /** `now` gives milliseconds on a monotonic clock (tests pass their own). */
  constructor(settings: RetryBudgetSettings, now: () => number = () => performance.now()) {
    this.#settings = settings;
    this.#now = now;
    this.#bucketMs = settings.windowMs / BUCKETS;
  }

  /** Records a call (its first attempt): each funds `percent` % of a retry. */
  recordCall(): void {
    this.#bucket().calls++;
  }

  /** Takes one retry from the budget; false, and nothing taken, when the budget is spent. */
  tryRetry(): boolean {
    if (this.available < 1) return false;
    this.#bucket().retries++;
    return true;
  }

  /** Retries the budget allows now (may be fractional). */
  get available(): number {
    const { percent, minPerSecond, windowMs } = this.#settings;
    const { calls, retries } = this.#totals();
    return (calls * percent) / 100 + (minPerSecond * windowMs) / 1000 - retries;
  }

  #bucket() {
    const at = Math.floor(this.#now() / this.#bucketMs);
    const bucket = this.#buckets[at % BUCKETS]!;
    if (bucket.at !== at) Object.assign(bucket, { at, calls: 0, retries: 0 });
    return bucket;
  }

  #totals() {
    const oldest = Math.floor(this.#now() / this.#bucketMs) - BUCKETS + 1;
    let calls = 0;
    let retries = 0;
    for (const bucket of this.#buckets) {
      if (bucket.at < oldest) continue;
      calls += bucket.calls;
      retries += bucket.retries;
    }
    return { calls, retries };
  }
}
