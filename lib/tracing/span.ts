/**
 * A span that is carried explicitly: every record names this span's own TraceId
 * object, never zipkin-js's per-process "current id" slot, so concurrent requests
 * interleaving across awaits cannot write into each other's traces. (zipkin's
 * BatchRecorder groups a span's records by the identity of that object: one object
 * per span, held here, is exactly what it needs.)
 */
import zipkin from 'zipkin';
import { formatTraceresponse, inject, type HeaderSetter, type TraceContext } from './propagation.ts';

const { Annotation } = zipkin;

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
  readonly serviceName: string;
  readonly localAddress: zipkin.Annotation.LocalAddr | undefined;
  childId(parent: zipkin.TraceId): zipkin.TraceId;
  record(id: zipkin.TraceId, annotation: zipkin.IAnnotation, timestamp: number): void;
}

/** Microseconds since the epoch, at sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The value of a zipkin-js option, or undefined for None. */
function valueOf<T>(option: zipkin.option.IOption<T>): T | undefined {
  return option.present ? option.getOrElse(undefined as T) : undefined;
}

/** Zipkin caps nothing, but a tag value the size of a request body helps nobody. */
const MAX_TAG_LENGTH = 512;

export class Span {
  readonly #sink: SpanSink;
  readonly #kind: SpanKind | undefined;
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
    this.#kind = options.kind;
    this.#start = nowMicros();
    if (!this.recording) return;
    const at = this.#start;
    this.#record(new Annotation.ServiceName(sink.serviceName), at);
    if (sink.localAddress) this.#record(sink.localAddress, at);
    const remote = options.remoteService;
    switch (options.kind) {
      case 'SERVER':
        this.#record(new Annotation.ServerRecv(), at);
        break;
      case 'CLIENT':
        this.#record(new Annotation.ClientSend(), at);
        if (remote) this.#record(new Annotation.ServerAddr({ serviceName: remote }), at);
        break;
      case 'PRODUCER':
        this.#record(new Annotation.ProducerStart(), at);
        if (remote) this.#record(new Annotation.MessageAddr({ serviceName: remote }), at);
        break;
      case 'CONSUMER':
        this.#record(new Annotation.ConsumerStart(), at);
        if (remote) this.#record(new Annotation.MessageAddr({ serviceName: remote }), at);
        break;
      default:
        this.#record(new Annotation.LocalOperationStart(name), at);
        return;
    }
    this.#record(new Annotation.Rpc(name), at);
  }

  get traceId(): string {
    return this.id.traceId;
  }

  get spanId(): string {
    return this.id.spanId;
  }

  /** False when the trace is not sampled: nothing is recorded, the context still travels. */
  get recording(): boolean {
    return this.id.sampled.getOrElse(false);
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
    if (this.recording) this.#record(this.#kind ? new Annotation.Rpc(name) : new Annotation.LocalOperationStart(name));
  }

  /** A timestamped event, shown on the span in Zipkin. */
  annotate(message: string): void {
    if (this.recording) this.#record(new Annotation.Message(message));
  }

  tag(key: string, value: string | number | boolean): void {
    if (this.recording) {
      this.#record(new Annotation.BinaryAnnotation(key, String(value).slice(0, MAX_TAG_LENGTH)));
    }
  }

  /** Marks the span failed; Zipkin shows spans tagged `error` in red. */
  fail(error: unknown): void {
    const message = error instanceof Error ? error.message || error.name : String(error);
    this.tag('error', message || 'error');
  }

  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.recording) return;
    // Zipkin drops a zero duration; one microsecond is the honest minimum.
    const end = Math.max(nowMicros(), this.#start + 1);
    switch (this.#kind) {
      case 'SERVER':
        return this.#record(new Annotation.ServerSend(), end);
      case 'CLIENT':
        return this.#record(new Annotation.ClientRecv(), end);
      case 'PRODUCER':
        return this.#record(new Annotation.ProducerStop(), end);
      case 'CONSUMER':
        return this.#record(new Annotation.ConsumerStop(), end);
      default:
        return this.#record(new Annotation.LocalOperationStop(), end);
    }
  }

  #record(annotation: zipkin.IAnnotation, timestamp = nowMicros()): void {
    this.#sink.record(this.id, annotation, timestamp);
  }
}
