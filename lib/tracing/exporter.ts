/**
 * Ships finished spans to Zipkin as JSON v2, in batches, off the request path.
 *
 * Finished spans wait as they are; a batch is encoded once, when it leaves (one
 * JSON.stringify for the batch, not one per span as it finishes), and zipkin-transport-http's
 * HttpLogger posts it. Around that, what a service needs when the collector is down or
 * slow: a timeout on every POST, failed batches kept for the next attempt, a cap on
 * waiting spans (drops are counted and logged at most once per interval), and a flush
 * that waits for the POSTs in flight, for shutdown. Under load a full batch goes out at
 * once rather than at the next tick, so the cap bounds memory, not throughput.
 */
import type zipkin from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';
import type { Logger } from '../log.ts';
import type { Endpoint, SpanLogger, ZipkinSpan } from './model.ts';

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

export interface SpanExporter extends SpanLogger {
  /** Sends what is buffered now and waits for every POST in flight. */
  flush(): Promise<void>;
  stats(): ExporterStats;
}

/** Keeps finished spans in memory, as the JSON v2 objects Zipkin would receive: for tests. */
export function createMemoryExporter(): SpanLogger & { spans: any[] } {
  const spans: any[] = [];
  return { spans, logSpan: (span) => spans.push(...JSON.parse(encodeBatch([span]))) };
}

/**
 * A batch as the body of `POST /api/v2/spans`: the JSON v2 array zipkin-js's JSON_V2 encoder
 * writes span by span (empty and false fields left out, fields in its order), written as
 * text directly. Ids are lowercase hex and kinds fixed words, so only names, endpoints,
 * annotation values and tags go through JSON.stringify; each endpoint is encoded once.
 */
export function encodeBatch(spans: readonly ZipkinSpan[]): string {
  let json = '[';
  for (let i = 0; i < spans.length; i++) json += (i === 0 ? '' : ',') + encodeSpan(spans[i]!);
  return json + ']';
}

function encodeSpan(span: ZipkinSpan): string {
  let json = '{"traceId":"' + span.traceId + '"';
  if (span.parentId) json += ',"parentId":"' + span.parentId + '"';
  json += ',"id":"' + span.id + '"';
  if (span.name) json += ',"name":' + quote(span.name);
  if (span.kind) json += ',"kind":"' + span.kind + '"';
  if (span.timestamp) json += ',"timestamp":' + span.timestamp;
  if (span.duration) json += ',"duration":' + span.duration;
  if (span.localEndpoint) json += ',"localEndpoint":' + encodeEndpoint(span.localEndpoint);
  if (span.remoteEndpoint) json += ',"remoteEndpoint":' + encodeEndpoint(span.remoteEndpoint);
  const { annotations, tags } = span;
  if (annotations && annotations.length > 0) {
    json += ',"annotations":[';
    for (let i = 0; i < annotations.length; i++) {
      const { timestamp, value } = annotations[i]!;
      json += (i === 0 ? '{"timestamp":' : ',{"timestamp":') + timestamp + ',"value":' + quote(value) + '}';
    }
    json += ']';
  }
  let separator = ',"tags":{';
  for (const key in tags) {
    json += separator + quote(key) + ':' + quote(tags[key]!);
    separator = ',';
  }
  if (separator === ',') json += '}';
  if (span.debug) json += ',"debug":true';
  if (span.shared) json += ',"shared":true';
  return json + '}';
}

/**
 * A JSON string literal, as JSON.stringify writes it: most names and tags need no escape, and
 * finding that out is much cheaper than JSON.stringify's set-up for one short string.
 */
function quote(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Control characters, the quote, the backslash and (lone, perhaps) surrogates are JSON.stringify's to escape.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(text);
  }
  return '"' + text + '"';
}

const encodedEndpoints = new WeakMap<Endpoint, string>();

function encodeEndpoint(endpoint: Endpoint): string {
  let json = encodedEndpoints.get(endpoint);
  if (json === undefined) encodedEndpoints.set(endpoint, (json = JSON.stringify(endpoint)));
  return json;
}

/** The parts of HttpLogger used here that its type declarations leave out. */
interface HttpLoggerInternals {
  processQueue(fetchImpl: typeof fetch): void;
  on(event: 'error' | 'success', listener: (arg: unknown) => void): void;
}

/** HttpLogger's queue holds what it is given: here, one batch already encoded, without its brackets. */
const ENCODED_BATCH = { encode: (batch: string) => batch };

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
  /** Finished spans, waiting for their batch (failed batches go back in front). */
  let waiting: ZipkinSpan[] = [];
  /** False after a failed POST, until one succeeds: only the interval then tries again. */
  let collectorKeepsUp = true;

  /** The fetch HttpLogger posts `batch` with: a timeout, and the batch kept to put back if the POST fails. */
  const postOf =
    (batch: ZipkinSpan[]) =>
    (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
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

  /** A failed batch goes back in front of the waiting spans, as far as the cap allows; the rest is dropped. */
  const requeue = (batch: ZipkinSpan[]) => {
    const room = Math.max(0, maxQueuedSpans - waiting.length);
    waiting = batch.slice(0, room).concat(waiting);
    stats.dropped += Math.max(0, batch.length - room);
  };

  // HttpLogger's own timer finds its queue empty (its fetch is never used): each batch is handed
  // over and posted at once, with a fetch of its own.
  const http = new HttpLogger({
    endpoint: `${url}/api/v2/spans`,
    jsonEncoder: ENCODED_BATCH,
    httpInterval: intervalMs,
    fetchImplementation: fetch,
  } as unknown as ConstructorParameters<typeof HttpLogger>[0]) as unknown as HttpLoggerInternals & zipkin.Logger;

  http.on('error', () => {
    stats.failedBatches++;
  });

  const send = () => {
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    http.logSpan(encodeBatch(batch).slice(1, -1) as unknown as zipkin.model.Span);
    http.processQueue(postOf(batch));
  };
  const ticker = setInterval(send, intervalMs);
  (ticker as { unref?: () => void }).unref?.();

  // Problems are summarised on a timer rather than per span, so a dead collector
  // cannot flood the log.
  const reporter = setInterval(() => {
    if (stats.dropped > lastReported.dropped || stats.failedBatches > lastReported.failed) {
      log.warn('span export degraded', {
        url,
        droppedSpans: stats.dropped - lastReported.dropped,
        failedBatches: stats.failedBatches - lastReported.failed,
        queued: waiting.length,
      });
      lastReported.dropped = stats.dropped;
      lastReported.failed = stats.failedBatches;
    }
  }, reportEveryMs);
  (reporter as { unref?: () => void }).unref?.();

  return {
    logSpan(span) {
      if (waiting.length >= maxQueuedSpans) {
        stats.dropped++;
        return;
      }
      waiting.push(span);
      // Two POSTs in flight at most: a slow collector gets batches at its own pace, and the cap applies.
      if (waiting.length >= batchSpans && collectorKeepsUp && inFlight.size < 2) send();
    },
    async flush() {
      send();
      await Promise.allSettled([...inFlight]);
    },
    stats: () => ({ ...stats, queued: waiting.length }),
  };
}
