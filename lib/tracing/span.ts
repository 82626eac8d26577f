/**
 * A span that is carried explicitly: it holds its own ids and its own Zipkin span
 * record, never a per-process "current span" slot, so concurrent requests interleaving
 * across awaits cannot write into each other's traces. The record is filled in place
 * and handed to the exporter when the span finishes.
 */
import { newSpanId } from './ids.ts';
import type { Endpoint, SpanKind, ZipkinSpan } from './model.ts';
import { formatTraceparent, injectValid, type HeaderSetter, type TraceContext } from './propagation.ts';

export type { SpanKind } from './model.ts';

/**
 * A span's own context: ids we generated or `extract` validated, a sampling decision
 * always made, the tracestate already normalised.
 */
export interface SpanContext extends TraceContext {
  sampled: boolean;
}

export interface SpanOptions {
  /** Omit for a local span (work inside this process). */
  kind?: SpanKind;
  /** The service on the other side of a CLIENT, PRODUCER or CONSUMER span. */
  remoteService?: string;
}

/** What a span needs from the tracer that made it. */
export interface SpanSink {
  readonly localEndpoint: Endpoint | undefined;
  remoteEndpoint(serviceName: string): Endpoint | undefined;
  /** Takes a finished span. */
  report(span: ZipkinSpan): void;
}

const ORIGIN_MICROS = performance.timeOrigin * 1000;

/** Microseconds since the epoch, at sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round(ORIGIN_MICROS + performance.now() * 1000);
}

/** Zipkin caps nothing, but a tag value the size of a request body helps nobody. */
const MAX_TAG_LENGTH = 512;

export class Span {
  readonly #sink: SpanSink;
  /** The span as Zipkin will receive it; absent when the trace is not sampled. */
  readonly #record: ZipkinSpan | undefined;
  /** Made once, for every hop below this span and the traceresponse. */
  #traceparent: string | undefined;
  #finished = false;

  /**
   * @param shared a server span joining its caller's span (B3), which Zipkin merges with the caller's.
   */
  constructor(sink: SpanSink, readonly context: SpanContext, name: string, options: SpanOptions = {}, shared = false) {
    this.#sink = sink;
    if (context.sampled) {
      this.#record = {
        traceId: context.traceId,
        parentId: context.parentId,
        id: context.spanId,
        kind: options.kind,
        // Zipkin lowercases names in the root locale (zipkin-js used the host's, slower and wrong for a Turkish one).
        name: name.toLowerCase(),
        timestamp: 0,
        duration: 0,
        localEndpoint: sink.localEndpoint,
        remoteEndpoint: options.remoteService === undefined ? undefined : sink.remoteEndpoint(options.remoteService),
        annotations: undefined,
        tags: {},
        debug: context.debug,
        shared,
      };
    }
    // Taken last, so the span times the work and not its own setup; not at all for a span not
    // recorded (reading the clock is a call into the runtime on Deno).
    if (this.#record) this.#record.timestamp = nowMicros();
  }

  get traceId(): string {
    return this.context.traceId;
  }

  get spanId(): string {
    return this.context.spanId;
  }

  /** False when the trace is not sampled: nothing is recorded, the context still travels. */
  get recording(): boolean {
    return this.#record !== undefined;
  }

  /** The W3C `traceresponse` value naming this span, for the caller (the same text as its `traceparent`). */
  get traceresponse(): string {
    return (this.#traceparent ??= formatTraceparent(this.context));
  }

  /** Writes this span's context into outgoing headers (HTTP or AMQP). */
  inject(set: HeaderSetter, options?: { b3?: 'multi' | 'single' }): void {
    injectValid(this.context, this.traceresponse, set, options?.b3);
  }

  /** Opens a span below this one. */
  child(name: string, options?: SpanOptions): Span {
    const { traceId, spanId, sampled, debug, tracestate, random } = this.context;
    const context: SpanContext = { traceId, spanId: newSpanId(), parentId: spanId, sampled, debug, tracestate, random };
    return new Span(this.#sink, context, name, options);
  }

  /**
   * Runs `work` inside a child span, finishing it when the work ends (after the
   * promise settles, for async work) and tagging it `error` if it throws.
   */
  trace<T>(name: string, work: (span: Span) => T, options?: SpanOptions): T {
    const span = this.child(name, options);
    let result: T;
    try {
      result = work(span);
    } catch (error) {
      span.fail(error);
      span.finish();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          span.finish();
          return value;
        },
        (error: unknown) => {
          span.fail(error);
          span.finish();
          throw error;
        },
      ) as T;
    }
    span.finish();
    return result;
  }

  setName(name: string): void {
    if (this.#record) this.#record.name = name.toLowerCase();
  }

  /** A timestamped event, shown on the span in Zipkin. */
  annotate(message: string): void {
    if (this.#record && !this.#finished) (this.#record.annotations ??= []).push({ timestamp: nowMicros(), value: message });
  }

  tag(key: string, value: string | number | boolean): void {
    if (this.#record) this.#record.tags[key] = String(value).slice(0, MAX_TAG_LENGTH);
  }

  /** Marks the span failed; Zipkin shows spans tagged `error` in red. */
  fail(error: unknown): void {
    const message = error instanceof Error ? error.message || error.name : String(error);
    this.tag('error', message || 'error');
  }

  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#record) return;
    // Zipkin drops a zero duration; one microsecond is the honest minimum.
    this.#record.duration = Math.max(nowMicros() - this.#record.timestamp, 1);
    this.#sink.report(this.#record);
  }
}
