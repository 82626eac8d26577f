/**
 * The load generator: autocannon in this process, with latency percentiles computed
 * from every response time (autocannon's own histogram rounds to whole milliseconds,
 * too coarse for a sub-millisecond local hop).
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Offered requests per second; closed loop (as fast as answers come) when absent. */
  rate?: number;
}

export interface LoadResult {
  /** Completed 2xx responses per second. */
  rps: number;
  /** 2xx responses completed. */
  ok: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  durationS: number;
}

export async function load({ url, connections, durationS, rate }: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const instance = autocannon({
    url,
    connections,
    duration: durationS,
    timeout: 10,
    ...(rate === undefined ? {} : { overallRate: Math.max(1, Math.round(rate)) }),
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    ok,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors: result.errors + result.timeouts + result.non2xx,
    durationS: result.duration,
  };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

/**
 * Runs each contender's round in turn (A B C A B C …) so slow drift of a shared
 * machine lands on all of them alike; a warm-up round each comes first and is discarded.
 */
export async function alternate<K extends string>(
  contenders: readonly K[],
  rounds: number,
  run: (contender: K, round: number) => Promise<LoadResult>,
  warmup: (contender: K) => Promise<unknown>,
  onRound?: (contender: K, round: number, result: LoadResult) => void,
): Promise<Record<K, LoadResult[]>> {
  for (const contender of contenders) await warmup(contender);
  const results = Object.fromEntries(contenders.map((c) => [c, [] as LoadResult[]])) as Record<K, LoadResult[]>;
  for (let round = 0; round < rounds; round++) {
    for (const contender of contenders) {
      const result = await run(contender, round);
      results[contender].push(result);
      onRound?.(contender, round, result);
    }
  }
  return results;
}

/** One line for progress output. */
export function describe(result: LoadResult): string {
  return `${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms`;
}

/** The median of each figure over rounds. */
export function summarise(results: readonly LoadResult[]): LoadResult {
  const of = (pick: (r: LoadResult) => number) => median(results.map(pick));
  return {
    rps: of((r) => r.rps),
    ok: results.reduce((sum, r) => sum + r.ok, 0),
    p50: of((r) => r.p50),
    p99: of((r) => r.p99),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    durationS: results.reduce((sum, r) => sum + r.durationS, 0),
  };
}
