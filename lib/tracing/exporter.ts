/**
 * Ships finished spans to Zipkin as JSON v2, in batches, off the request path.
 *
 * zipkin-transport-http's HttpLogger does the batching; around it this adds what a
 * service needs when the collector is down or slow: a timeout on every POST, failed
 * batches kept for the next attempt, a cap on buffered spans (drops are counted and
 * logged at most once per interval), and a flush that waits for the POSTs in flight,
 * for shutdown. Under load a full batch goes out at once rather than at the next tick,
 * so the cap bounds memory, not throughput.
 */
import zipkin from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';
import type { Logger } from '../log.ts';

export interface ZipkinExporterOptions {
  /** Zipkin base URL; spans go to `${url}/api/v2/spans`. */
  url: string;
  log: Logger;
  /** How often a batch is sent. */
  intervalMs?: number;
  /** Spans held while the collector is unreachable; newer spans are dropped beyond this. */
  maxQueuedSpans?: number;
  /** Spans that make a full batch, sent without waiting for the interval while the collector keeps up. */
  batchSpans?: number;
  /** Time allowed for one POST. */
  timeoutMs?: number;
  /** How often at most a problem (drops, failed POSTs) is logged. */
  reportEveryMs?: number;
}

export interface ExporterStats {
  sent: number;
  dropped: number;
  failedBatches: number;
  /** Waiting for the next batch. */
  queued: number;
}

export interface SpanExporter extends zipkin.Logger {
  /** Sends what is buffered now and waits for every POST in flight. */
  flush(): Promise<void>;
  stats(): ExporterStats;
}

/** Keeps finished spans in memory, as the JSON v2 objects Zipkin would receive: for tests. */
export function createMemoryExporter(): zipkin.Logger & { spans: any[] } {
  const spans: any[] = [];
  return { spans, logSpan: (span) => spans.push(JSON.parse(zipkin.jsonEncoder.JSON_V2.encode(span))) };
}

/** The parts of HttpLogger used here that its type declarations leave out. */
interface HttpLoggerInternals {
  queue: string[];
  processQueue(fetchImpl: typeof fetch): void;
  on(event: 'error' | 'success', listener: (arg: unknown) => void): void;
}

export function createZipkinExporter({
  url,
  log,
  intervalMs = 1000,
  maxQueuedSpans = 10_000,
  batchSpans = 1000,
  timeoutMs = 5000,
  reportEveryMs = 10_000,
}: ZipkinExporterOptions): SpanExporter {
  const stats = { sent: 0, dropped: 0, failedBatches: 0 };
  const inFlight = new Set<Promise<unknown>>();
  const lastReported = { dropped: 0, failed: 0 };
  /** False after a failed POST, until one succeeds: only the interval then tries again. */
  let collectorKeepsUp = true;

  const timedFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    // HttpLogger calls this synchronously with its whole queue as the body, and empties the
    // queue right after: keep the batch, to put it back if the POST fails.
    const batch = http.queue.slice();
    const request = fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const tracked = request
      .then(async (response) => {
        // Drain the body so the connection returns to the pool.
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`collector answered ${response.status}`);
        stats.sent += batch.length;
        collectorKeepsUp = true;
        return response;
      })
      .catch((error: unknown) => {
        collectorKeepsUp = false;
        requeue(batch);
        throw error;
      });
    inFlight.add(tracked);
    const forget = () => inFlight.delete(tracked);
    tracked.then(forget, forget);
    return tracked;
  };

  /** A failed batch goes back in front of the queue, as far as the cap allows; the rest is dropped. */
  const requeue = (batch: string[]) => {
    const room = Math.max(0, maxQueuedSpans - http.queue.length);
    http.queue.unshift(...batch.slice(0, room));
    stats.dropped += Math.max(0, batch.length - room);
  };

  const http = new HttpLogger({
    endpoint: `${url}/api/v2/spans`,
    jsonEncoder: zipkin.jsonEncoder.JSON_V2,
    httpInterval: intervalMs,
    fetchImplementation: timedFetch,
  } as ConstructorParameters<typeof HttpLogger>[0]) as unknown as HttpLoggerInternals & zipkin.Logger;

  http.on('error', () => {
    stats.failedBatches++;
  });

  // Problems are summarised on a timer rather than per span, so a dead collector
  // cannot flood the log.
  const reporter = setInterval(() => {
    if (stats.dropped > lastReported.dropped || stats.failedBatches > lastReported.failed) {
      log.warn('span export degraded', {
        url,
        droppedSpans: stats.dropped - lastReported.dropped,
        failedBatches: stats.failedBatches - lastReported.failed,
        queued: http.queue.length,
      });
      lastReported.dropped = stats.dropped;
      lastReported.failed = stats.failedBatches;
    }
  }, reportEveryMs);
  (reporter as { unref?: () => void }).unref?.();

  return {
    logSpan(span) {
      if (http.queue.length >= maxQueuedSpans) {
        stats.dropped++;
        return;
      }
      http.logSpan(span);
      // Two POSTs in flight at most: a slow collector gets batches at its own pace, and the cap applies.
      if (http.queue.length >= batchSpans && collectorKeepsUp && inFlight.size < 2) http.processQueue(timedFetch);
    },
    async flush() {
      http.processQueue(timedFetch);
      await Promise.allSettled([...inFlight]);
    },
    stats: () => ({ ...stats, queued: http.queue.length }),
  };
}
