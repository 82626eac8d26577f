/**
 * One tracer per service: ids, sampling by trace id, Zipkin span records built in
 * place, an exporter shipping them. Spans are created from an incoming context (or
 * none) and from then on carried explicitly; see span.ts for why.
 */
import { newSpanId, newTraceId } from './ids.ts';
import type { Endpoint, SpanLogger, ZipkinSpan } from './model.ts';
import type { Extracted } from './propagation.ts';
import { Span, type SpanContext, type SpanKind, type SpanSink } from './span.ts';

export interface TracerOptions {
  serviceName: string;
  /** Where finished spans go (an exporter to Zipkin, or a test's collector). */
  exporter: SpanLogger & { flush?: () => Promise<void> };
  /** Fraction of new traces recorded, 0..1. Incoming decisions are always honoured. */
  sampleRate?: number;
  /** This instance's IPv4 address (dotted quad), for the spans' local endpoint. */
  ipv4?: string;
  /** This instance's IPv6 address, for the spans' local endpoint (beside or instead of `ipv4`). */
  ipv6?: string;
}

/** How a span relates to the context it continues. */
export type Continuation =
  /** Zipkin's B3 convention for RPC servers: share the caller's span id. */
  | 'join'
  /** A new span below the caller's (W3C servers, message consumers). */
  | 'child';

export class Tracing implements SpanSink {
  readonly serviceName: string;
  readonly localEndpoint: Endpoint | undefined;
  readonly #remoteEndpoints = new Map<string, Endpoint | undefined>();
  readonly #exporter: TracerOptions['exporter'];
  readonly #sample: (traceId: string) => boolean;

  constructor({ serviceName, exporter, sampleRate = 1, ipv4, ipv6 }: TracerOptions) {
    this.serviceName = serviceName;
    this.localEndpoint = endpoint(serviceName, ipv4, ipv6);
    this.#exporter = exporter;
    this.#sample = traceIdRatio(sampleRate);
  }

  /**
   * Opens a span continuing what `extract` read from an incoming request or message:
   * joined or as a child when there is a context, a new trace otherwise (keeping a
   * sampling-only decision when one came). A decision the caller deferred is made
   * here, by trace id; debug forces recording.
   */
  continueSpan(
    name: string,
    extracted: Extracted,
    options: { kind: SpanKind; remoteService?: string; continuation: Continuation },
  ): Span {
    if (extracted.kind === 'context') {
      const { traceId, spanId, parentId, sampled, debug, tracestate, random } = extracted.context;
      const decided = debug || (sampled ?? this.#sample(traceId));
      if (options.continuation === 'join' && extracted.format !== 'w3c') {
        // As zipkin-js's Tracer.join: a caller that deferred the decision recorded nothing, so there is nothing to share.
        const context: SpanContext = { traceId, spanId, parentId, sampled: decided, debug, tracestate, random };
        return new Span(this, context, name, options, sampled !== undefined || debug);
      }
      const context: SpanContext = { traceId, spanId: newSpanId(), parentId: spanId, sampled: decided, debug, tracestate, random };
      return new Span(this, context, name, options);
    }
    const traceId = newTraceId();
    const debug = extracted.kind === 'sampling' && extracted.debug;
    const sampled = debug || ((extracted.kind === 'sampling' ? extracted.sampled : undefined) ?? this.#sample(traceId));
    return this.#root(traceId, sampled, debug, name, options);
  }

  /** Opens the first span of a new trace. */
  rootSpan(name: string, options: { kind?: SpanKind; remoteService?: string } = {}): Span {
    const traceId = newTraceId();
    return this.#root(traceId, this.#sample(traceId), false, name, options);
  }

  #root(traceId: string, sampled: boolean, debug: boolean, name: string, options: { kind?: SpanKind; remoteService?: string }): Span {
    const context: SpanContext = {
      traceId,
      spanId: newSpanId(),
      parentId: undefined,
      sampled,
      debug,
      tracestate: undefined,
      random: undefined,
    };
    return new Span(this, context, name, options);
  }

  /** Endpoints are immutable once made: one per remote service, shared by its spans. */
  remoteEndpoint(serviceName: string): Endpoint | undefined {
    let found = this.#remoteEndpoints.get(serviceName);
    if (found === undefined && !this.#remoteEndpoints.has(serviceName)) {
      this.#remoteEndpoints.set(serviceName, (found = endpoint(serviceName)));
    }
    return found;
  }

  report(span: ZipkinSpan): void {
    this.#exporter.logSpan(span);
  }

  /** Sends every finished span still buffered. */
  async flush(): Promise<void> {
    await this.#exporter.flush?.();
  }
}

/**
 * An endpoint as Zipkin wants it (service name lower case), or none when there is nothing to say.
 * Only the fields known are present, in the order the encoders write them.
 */
function endpoint(serviceName: string, ipv4?: string, ipv6?: string): Endpoint | undefined {
  if (!serviceName && !ipv4 && !ipv6) return undefined;
  return Object.freeze({ ...(serviceName && { serviceName: serviceName.toLowerCase() }), ...(ipv4 && { ipv4 }), ...(ipv6 && { ipv6 }) });
}

/**
 * Samples by the trace id's low bits rather than a coin toss, so every service with
 * the same rate makes the same decision for the same trace.
 */
function traceIdRatio(rate: number): (traceId: string) => boolean {
  if (rate >= 1) return () => true;
  if (rate <= 0) return () => false;
  const bound = rate * 2 ** 52;
  return (traceId) => parseInt(traceId.slice(-13), 16) < bound;
}
