/**
 * A span that is carried explicitly: it holds its own Zipkin model span and ids, never
 * zipkin-js's per-process "current id" slot, so concurrent requests interleaving across
 * awaits cannot write into each other's traces. The model span is filled in place and
 * handed to the exporter when the span finishes: no per-annotation records to collect
 * and regroup on the request path.
 */
import zipkin from 'zipkin';
import { formatTraceresponse, inject, type HeaderSetter, type TraceContext } from './propagation.ts';

export type SpanKind = 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';

export type W3cExtras = Pick<TraceContext, 'tracestate' | 'random'>;

export interface SpanOptions {
  /** Omit for a local span (work inside this process). */
  kind?: SpanKind;
  /** The service on the other side of a CLIENT, PRODUCER or CONSUMER span. */
  remoteService?: string;
}

/** What a span needs from the tracer that made it. */
export interface SpanSink {
  readonly localEndpoint: zipkin.model.Endpoint;
  remoteEndpoint(serviceName: string): zipkin.model.Endpoint;
  childId(parent: zipkin.TraceId): zipkin.TraceId;
  /** Takes a finished span. */
  report(span: zipkin.model.Span): void;
}

/** Microseconds since the epoch, at sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The value of a zipkin-js option, or undefined for None. */
function valueOf<T>(option: zipkin.option.IOption<T>): T | undefined {
  return option.present ? option.getOrElse(undefined as T) : undefined;
}

/**
 * Zipkin's span names are lower case. zipkin-js's setName lowercases for the host's locale
 * (slow, and wrong for a Turkish one); Zipkin itself uses the root locale, as this does.
 */
function setName(model: zipkin.model.Span, name: string): void {
  (model as { name: string | undefined }).name = name.toLowerCase();
}

/** Zipkin caps nothing, but a tag value the size of a request body helps nobody. */
const MAX_TAG_LENGTH = 512;

export class Span {
  readonly #sink: SpanSink;
  /** The span as Zipkin will receive it; absent when the trace is not sampled. */
  readonly #model: zipkin.model.Span | undefined;
  readonly #start: number;
  #finished = false;

  constructor(
    sink: SpanSink,
    readonly id: zipkin.TraceId,
    name: string,
    options: SpanOptions = {},
    /** What W3C callers add (tracestate, the random flag), passed on to every hop below this span. */
    readonly w3c: W3cExtras = {},
  ) {
    this.#sink = sink;
    if (id.sampled.getOrElse(false)) {
      const model = new zipkin.model.Span(id);
      setName(model, name);
      if (options.kind) model.setKind(options.kind);
      model.setLocalEndpoint(sink.localEndpoint);
      if (options.remoteService) model.setRemoteEndpoint(sink.remoteEndpoint(options.remoteService));
      this.#model = model;
    }
    // Taken last, so the span times the work and not its own setup.
    this.#start = nowMicros();
    this.#model?.setTimestamp(this.#start);
  }

  get traceId(): string {
    return this.id.traceId;
  }

  get spanId(): string {
    return this.id.spanId;
  }

  /** False when the trace is not sampled: nothing is recorded, the context still travels. */
  get recording(): boolean {
    return this.#model !== undefined;
  }

  get context(): TraceContext {
    const sampled = valueOf(this.id.sampled);
    const context: TraceContext = { traceId: this.id.traceId, spanId: this.id.spanId, debug: this.id.isDebug() };
    const parentId = valueOf(this.id.parentSpanId);
    if (parentId !== undefined) context.parentId = parentId;
    if (sampled !== undefined) context.sampled = sampled;
    if (this.w3c.tracestate !== undefined) context.tracestate = this.w3c.tracestate;
    if (this.w3c.random) context.random = true;
    return context;
  }

  /** The W3C `traceresponse` value naming this span, for the caller. */
  get traceresponse(): string {
    return formatTraceresponse({ traceId: this.traceId, spanId: this.spanId, sampled: this.recording, random: this.w3c.random });
  }

  /** Writes this span's context into outgoing headers (HTTP or AMQP). */
  inject(set: HeaderSetter, options?: { b3?: 'multi' | 'single' }): void {
    inject(this.context, set, options);
  }

  /** Opens a span below this one. */
  child(name: string, options?: SpanOptions): Span {
    return new Span(this.#sink, this.#sink.childId(this.id), name, options, this.w3c);
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
    if (this.#model) setName(this.#model, name);
  }

  /** A timestamped event, shown on the span in Zipkin. */
  annotate(message: string): void {
    if (!this.#finished) this.#model?.addAnnotation(nowMicros(), message);
  }

  tag(key: string, value: string | number | boolean): void {
    this.#model?.putTag(key, String(value).slice(0, MAX_TAG_LENGTH));
  }

  /** Marks the span failed; Zipkin shows spans tagged `error` in red. */
  fail(error: unknown): void {
    const message = error instanceof Error ? error.message || error.name : String(error);
    this.tag('error', message || 'error');
  }

  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#model) return;
    // Zipkin drops a zero duration; one microsecond is the honest minimum.
    this.#model.setDuration(Math.max(nowMicros() - this.#start, 1));
    this.#sink.report(this.#model);
  }
}
