/**
 * Ships finished spans to Zipkin as JSON v2 (`POST ${url}/api/v2/spans`), in batches, off the
 * request path.
 *
 * Finished spans wait as they are; a batch is encoded once, when it leaves (one JSON.stringify
 * for the batch, not one per span as it finishes). Each POST is bounded, as Zipkin's own
 * reporters bound theirs: at most `batchSpans` spans and `messageMaxBytes` bytes
 * (zipkin-reporter-java's AsyncReporter sends at most 500,000 bytes; zipkin-transport-http calls
 * the same bound `maxPayloadSize`). A full batch leaves at once rather than at the next tick, so
 * the cap on waiting spans bounds memory, not throughput.
 *
 * What the collector answers decides what becomes of a batch (status semantics of RFC 9110 §15):
 * - 2xx: sent.
 * - no answer (network error, timeout), 408, 429, 5xx: it may succeed later. The batch is kept
 *   and retried with exponential backoff (its own, and a pause of the whole exporter, which then
 *   probes with one POST at a time until one succeeds); `Retry-After` is honoured, up to a minute.
 * - 413: too large for this collector: split in two and sent again at once.
 * - any other answer: it never will. The batch is dropped, counted as `rejected` and logged with
 *   the collector's reason.
 * A batch waiting for its retry never holds back the spans behind it: they go out as soon as the
 * collector takes anything. Problems are logged at most once per `reportEveryMs`, and `flush`
 * (for shutdown) makes a last attempt with everything held, waits for it, and logs at once what
 * it could not send.
 *
 * zipkin-transport-http's HttpLogger (0.22) cannot be used for this through its declared API
 * (a constructor and `logSpan`): it posts only on its own timer, so neither a full batch nor a
 * last flush can go out when needed; it reports an outcome only as an event or log text
 * (holding the whole body) with no status code or Retry-After, and forgets the batch, so nothing
 * can be retried; its `timeout` is a node-fetch option that the built-in fetch of Node and Deno
 * ignores; and its `maxPayloadSize` bounds bytes, not spans, dropping a span over it. Hence
 * our own POST, the request HttpLogger makes, through the services' transport
 * (lib/http-transport.ts): undici's `request` on Node, which writes the encoded batch as it is
 * (Node's `fetch` copied it again into a stream chunk, about 1.2 µs of CPU per span more),
 * and `fetch` on Deno.
 */
import { Buffer } from 'node:buffer';
import { createHttpTransport, type HttpResponse } from '../http-transport.ts';
import { withoutPassword, type Logger } from '../log.ts';
import type { Endpoint, SpanLogger, ZipkinSpan } from './model.ts';

export interface ZipkinExporterOptions {
  /** Zipkin base URL; spans go to `${url}/api/v2/spans`. */
  url: string;
  log: Logger;
  /** How often waiting spans are sent, in ms; also the first step of the retry backoff. */
  intervalMs?: number;
  /** Spans held while the collector cannot take them (retries included); newer spans are dropped beyond this. */
  maxQueuedSpans?: number;
  /** Most spans in one POST; this many waiting make a full batch, sent without waiting for the interval. */
  batchSpans?: number;
  /** Most bytes in one POST (the JSON array); a single span over it is dropped, counted as rejected. */
  messageMaxBytes?: number;
  /** Time allowed for one POST, answer included, in ms. */
  timeoutMs?: number;
  /** Longest pause between retries, in ms (Retry-After may ask for more, up to a minute). */
  maxBackoffMs?: number;
  /** How often at most a problem (drops, failed POSTs, refusals) is logged, in ms. */
  reportEveryMs?: number;
}

export interface ExporterStats {
  /** Spans the collector accepted. */
  sent: number;
  /** Spans dropped because `maxQueuedSpans` were already held. */
  dropped: number;
  /** Spans the collector refused for good (a 4xx other than 408 and 429, or a single span over a size limit). */
  rejected: number;
  /** POSTs that did not succeed: no answer in time, or any answer but 2xx. */
  failedBatches: number;
  /** Spans held for a POST: waiting for the next batch or for a retry. */
  queued: number;
}

export interface SpanExporter extends SpanLogger {
  /**
   * Sends everything held now, whatever the backoff, and waits for every POST in flight: for
   * shutdown. Logs at once what did not go well since the last report, with `unsentAfterFlush`
   * spans still held when this attempt failed.
   */
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

/** What becomes of a batch, by the status the collector answered (RFC 9110 §15). */
export type Verdict = 'sent' | 'retry' | 'split' | 'reject';

export function verdictOf(status: number): Verdict {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 413) return 'split';
  // Request Timeout, Too Many Requests and server errors say nothing against the batch itself.
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'reject';
}

/**
 * A `Retry-After` header in ms from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or malformed; a date in the past is 0.
 */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  const text = value?.trim() ?? '';
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form names its month; Date.parse alone would read "1.5" as a date.
  const at = /[a-z]/i.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A collector's `Retry-After` is honoured up to this, so a wrong header cannot stop export for long. */
const MAX_RETRY_AFTER_MS = 60_000;
/** POSTs in flight at once while the collector keeps up: a slow one gets batches at its own pace. */
const MAX_IN_FLIGHT = 2;
/** How much of a collector's refusal is logged. */
const MAX_REASON_LENGTH = 200;

const utf8 = new TextEncoder();

/**
 * Where spans go, and the headers of every POST: a user and password in `url` (a collector behind
 * basic auth) become an `Authorization: Basic` header (RFC 7617), which Node's transport would not
 * send for them (Deno's `fetch` does), and leave the URL.
 */
function collectorEndpoint(url: string): { endpoint: string; headers: Record<string, string> } {
  const parsed = new URL(`${url}/api/v2/spans`);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (parsed.username || parsed.password) {
    const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
    headers['authorization'] = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    parsed.username = parsed.password = '';
  }
  return { endpoint: parsed.href, headers };
}

/** Lets the process exit with the timer pending, where timers can be unref'd (on Node). */
function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/** A failed POST in a line: its message, and the system error under it (ECONNREFUSED...) when the message does not say it. */
function describe(error: Error): string {
  const cause = error.cause as { code?: string; message?: string } | undefined;
  const detail = cause?.code ?? cause?.message;
  return detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
}

interface Batch {
  spans: ZipkinSpan[];
  /** Failed POSTs of this batch so far. */
  attempts: number;
  /** performance.now() before which it is not retried. */
  dueAt: number;
}

export function createZipkinExporter({
  url,
  log,
  intervalMs = 1000,
  maxQueuedSpans = 10_000,
  batchSpans = 1000,
  messageMaxBytes = 500_000,
  timeoutMs = 5000,
  maxBackoffMs = 10_000,
  reportEveryMs = 10_000,
}: ZipkinExporterOptions): SpanExporter {
  const { endpoint, headers } = collectorEndpoint(url);
  // A pool of its own: batches never wait behind the services' calls, nor those behind batches.
  const transport = createHttpTransport();
  const stats = { sent: 0, dropped: 0, rejected: 0, failedBatches: 0 };
  const inFlight = new Set<Promise<void>>();
  /** Finished spans, waiting for their batch. */
  let waiting: ZipkinSpan[] = [];
  /** Batches to send again, oldest first; each waits for its own `dueAt`. */
  const retries: Batch[] = [];
  let retrySpans = 0;
  /** Failed POSTs since the last success: while above 0 one POST at a time probes the collector. */
  let failuresInARow = 0;
  /** performance.now() before which nothing is sent (after a failure, or as Retry-After asked). */
  let pausedUntil = 0;
  /** The latest problem of each kind since the last report, for the log. */
  let lastError: string | undefined;
  let lastRefusal: string | undefined;

  /** Exponential, from the interval up to maxBackoffMs, with jitter so that services do not retry in step. */
  const backoff = (failures: number) => {
    const ms = Math.min(maxBackoffMs, intervalMs * 2 ** (failures - 1));
    return ms / 2 + (Math.random() * ms) / 2;
  };

  /** The oldest retry that is due, else the next batch of waiting spans (only a full one unless `partial`). */
  const nextBatch = (now: number, partial: boolean): Batch | undefined => {
    const due = retries.findIndex((batch) => batch.dueAt <= now);
    if (due >= 0) {
      const [batch] = retries.splice(due, 1);
      retrySpans -= batch!.spans.length;
      return batch;
    }
    if (waiting.length === 0 || (!partial && waiting.length < batchSpans)) return undefined;
    return { spans: waiting.splice(0, batchSpans), attempts: 0, dueAt: 0 };
  };

  /**
   * Sends what is due, within the in-flight limit, unless paused: on every tick all of it, in
   * between (a batch filled up, a POST succeeded) only retries and full batches.
   */
  const pump = (partial = false) => {
    const limit = failuresInARow > 0 ? 1 : MAX_IN_FLIGHT;
    if (inFlight.size >= limit) return;
    const now = performance.now();
    if (now < pausedUntil) return;
    while (inFlight.size < limit) {
      const batch = nextBatch(now, partial);
      if (!batch) return;
      track(post(batch));
    }
  };

  /** Counts a POST in flight until it settles, then sends on (after a failure, the pause decides when). */
  const track = (posting: Promise<void>) => {
    inFlight.add(posting);
    void posting.then(() => {
      inFlight.delete(posting);
      pump();
    });
  };

  /** Parts of `batch`, oldest first, put in front of the retries to go out at once. */
  const split = (batch: Batch, parts: number) => {
    const size = Math.ceil(batch.spans.length / parts);
    const pieces: Batch[] = [];
    for (let i = 0; i < batch.spans.length; i += size) {
      pieces.push({ spans: batch.spans.slice(i, i + size), attempts: batch.attempts, dueAt: 0 });
    }
    retries.unshift(...pieces);
    retrySpans += batch.spans.length;
  };

  const reject = (batch: Batch, reason: string) => {
    stats.rejected += batch.spans.length;
    lastRefusal = `${batch.spans.length} spans refused: ${reason}`;
  };

  /** Keeps a batch that may succeed later, as far as the cap allows, and pauses sending. */
  const retryLater = (batch: Batch, problem: string, askedMs: number | undefined) => {
    lastError = problem;
    failuresInARow++;
    batch.attempts++;
    const now = performance.now();
    const pause = askedMs === undefined ? backoff(failuresInARow) : Math.min(askedMs, MAX_RETRY_AFTER_MS);
    pausedUntil = now + pause;
    // Due only after the pause, so the next probe is another batch: one that keeps failing
    // cannot stand in front of the rest.
    batch.dueAt = pausedUntil + backoff(batch.attempts);
    const room = Math.max(0, maxQueuedSpans - waiting.length - retrySpans);
    if (room < batch.spans.length) {
      stats.dropped += batch.spans.length - room;
      batch.spans = batch.spans.slice(0, room);
    }
    if (batch.spans.length > 0) {
      retries.push(batch);
      retrySpans += batch.spans.length;
    }
  };

  /** Posts a batch and deals with the answer. */
  const post = async (batch: Batch): Promise<void> => {
    const body = utf8.encode(encodeBatch(batch.spans));
    if (body.length > messageMaxBytes) {
      if (batch.spans.length === 1) return reject(batch, `${body.length} bytes, over messageMaxBytes (${messageMaxBytes})`);
      return split(batch, Math.ceil(body.length / messageMaxBytes));
    }
    let response: HttpResponse;
    let text: string;
    try {
      response = await transport.send({ method: 'POST', url: endpoint, headers, body, timeoutMs });
      // Read to the end, so the connection returns to the pool; the text is the reason for a refusal.
      text = await response.text();
    } catch (error) {
      stats.failedBatches++;
      // A network error, or the timeout's DOMException: both are Errors.
      return retryLater(batch, describe(error as Error), undefined);
    }
    const verdict = verdictOf(response.status);
    if (verdict === 'sent') {
      stats.sent += batch.spans.length;
      failuresInARow = 0;
      pausedUntil = 0;
      return;
    }
    stats.failedBatches++;
    const reason = `${response.status} ${text.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON_LENGTH)}`.trim();
    if (verdict === 'retry') return retryLater(batch, `collector answered ${reason}`, retryAfterMs(response.header('retry-after')));
    if (verdict === 'split' && batch.spans.length > 1) return split(batch, 2);
    return reject(batch, reason);
  };

  unref(setInterval(() => pump(true), intervalMs));

  // Problems are summarised on a timer rather than per batch, so a dead collector cannot flood the
  // log. Each report is timed from the one before (an interval timer running late could fire the
  // next one early), so two are always at least reportEveryMs apart.
  const reported = { dropped: 0, rejected: 0, failedBatches: 0 };
  /** The spans a flush last found unsent, and said so. */
  let unsentReported = 0;
  /** Logs the problems since the last report, if any; `unsentAfterFlush`: spans a flush's last attempt could not send. */
  const report = (unsentAfterFlush = 0) => {
    const news = {
      droppedSpans: stats.dropped - reported.dropped,
      rejectedSpans: stats.rejected - reported.rejected,
      failedBatches: stats.failedBatches - reported.failedBatches,
    };
    if (news.droppedSpans > 0 || news.rejectedSpans > 0 || news.failedBatches > 0 || unsentAfterFlush > 0) {
      log.warn('span export degraded', {
        url: withoutPassword(url),
        ...news,
        queued: waiting.length + retrySpans,
        ...(unsentAfterFlush > 0 && { unsentAfterFlush }),
        ...(lastError && { lastError }),
        ...(lastRefusal && { lastRefusal }),
      });
      Object.assign(reported, { dropped: stats.dropped, rejected: stats.rejected, failedBatches: stats.failedBatches });
      lastError = lastRefusal = undefined;
    }
  };
  const reportOnTimer = () => {
    report();
    unref(setTimeout(reportOnTimer, reportEveryMs));
  };
  unref(setTimeout(reportOnTimer, reportEveryMs));

  return {
    logSpan(span) {
      if (waiting.length + retrySpans >= maxQueuedSpans) {
        stats.dropped++;
        return;
      }
      waiting.push(span);
      if (waiting.length >= batchSpans) pump();
    },
    async flush() {
      // Everything held goes out at once, retries not yet due included: nothing comes after a last flush.
      for (let batch = nextBatch(Infinity, true); batch; batch = nextBatch(Infinity, true)) track(post(batch));
      // Parts of a batch split on a 413 follow as POSTs succeed.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      // Said now, not at the next report: a process stopping after its last flush would never say it.
      // Once: flushes that waited on the same POSTs (a stop's early one and its last) find the same spans unsent.
      const unsent = waiting.length + retrySpans;
      report(unsent === unsentReported ? 0 : unsent);
      unsentReported = unsent;
    },
    stats: () => ({ ...stats, queued: waiting.length + retrySpans }),
  };
}
