/**
 * One tracer per service: zipkin-js ids and sampling, Zipkin model spans built in
 * place, an exporter shipping them. Spans are created from an incoming context (or
 * none) and from then on carried explicitly; see span.ts for why.
 */
import zipkin from 'zipkin';
import type { Extracted } from './propagation.ts';
import { Span, type SpanKind, type SpanSink, type W3cExtras } from './span.ts';

const { Tracer, ExplicitContext, TraceId, model, option, sampler } = zipkin;

export interface TracerOptions {
  serviceName: string;
  /** Where finished spans go (an exporter to Zipkin, or a test's collector). */
  exporter: zipkin.Logger;
  /** Fraction of new traces recorded, 0..1. Incoming decisions are always honoured. */
  sampleRate?: number;
  /** This host's IPv4 address, for the spans' local endpoint. */
  ipv4?: string;
}

/** How a span relates to the context it continues. */
export type Continuation =
  /** Zipkin's B3 convention for RPC servers: share the caller's span id. */
  | 'join'
  /** A new span below the caller's (W3C servers, message consumers). */
  | 'child';

export class Tracing implements SpanSink {
  readonly serviceName: string;
  readonly localEndpoint: zipkin.model.Endpoint;
  readonly #remoteEndpoints = new Map<string, zipkin.model.Endpoint>();
  readonly #tracer: zipkin.Tracer;
  readonly #exporter: zipkin.Logger & { flush?: () => Promise<void> };

  constructor({ serviceName, exporter, sampleRate = 1, ipv4 }: TracerOptions) {
    this.serviceName = serviceName;
    this.localEndpoint = new model.Endpoint({ serviceName, ipv4 });
    this.#exporter = exporter;
    this.#tracer = new Tracer({
      // Required by zipkin-js, never consulted: spans are carried, and report themselves.
      ctxImpl: new ExplicitContext(),
      recorder: { record: () => {} },
      sampler: new sampler.Sampler(traceIdRatio(sampleRate)),
      traceId128Bit: true,
      localServiceName: serviceName,
    });
  }

  /**
   * Opens a span continuing what was extracted from an incoming request or message:
   * joined or as a child when there is a context, a new trace otherwise (keeping a
   * sampling-only decision when one came).
   */
  continueSpan(
    name: string,
    extracted: Extracted,
    options: { kind: SpanKind; remoteService?: string; continuation: Continuation },
  ): Span {
    let id: zipkin.TraceId;
    let w3c: W3cExtras = {};
    if (extracted.kind === 'context') {
      const { context } = extracted;
      const caller = new TraceId({
        traceId: context.traceId,
        spanId: context.spanId,
        parentId: context.parentId === undefined ? option.None : new option.Some(context.parentId),
        sampled: context.sampled === undefined ? option.None : new option.Some(context.sampled),
        debug: context.debug,
      });
      id = options.continuation === 'join' && extracted.format !== 'w3c' ? this.#join(caller) : this.childId(caller);
      w3c = { tracestate: context.tracestate, random: context.random };
    } else if (extracted.kind === 'sampling') {
      id = this.#tracer.createRootId(
        extracted.sampled === undefined ? option.None : new option.Some(extracted.sampled),
        extracted.debug,
      );
    } else {
      id = this.#tracer.createRootId();
    }
    return new Span(this, id, name, options, w3c);
  }

  /** Opens the first span of a new trace. */
  rootSpan(name: string, options: { kind?: SpanKind; remoteService?: string } = {}): Span {
    return new Span(this, this.#tracer.createRootId(), name, options);
  }

  /** Tracer.join, missing from zipkin-js's type declarations: shares the caller's span id. */
  #join(caller: zipkin.TraceId): zipkin.TraceId {
    return (this.#tracer as unknown as { join(id: zipkin.TraceId): zipkin.TraceId }).join(caller);
  }

  childId(parent: zipkin.TraceId): zipkin.TraceId {
    return this.#tracer.createChildId(parent);
  }

  /** Endpoints are immutable once made: one per remote service, shared by its spans. */
  remoteEndpoint(serviceName: string): zipkin.model.Endpoint {
    let endpoint = this.#remoteEndpoints.get(serviceName);
    if (!endpoint) this.#remoteEndpoints.set(serviceName, (endpoint = new model.Endpoint({ serviceName })));
    return endpoint;
  }

  report(span: zipkin.model.Span): void {
    this.#exporter.logSpan(span);
  }

  /** Sends every finished span still buffered. */
  async flush(): Promise<void> {
    await this.#exporter.flush?.();
  }
}

/**
 * Samples by the trace id's low bits rather than a coin toss, so every service with
 * the same rate makes the same decision for the same trace.
 */
function traceIdRatio(rate: number): (id: zipkin.TraceId) => boolean {
  if (rate >= 1) return () => true;
  if (rate <= 0) return () => false;
  const bound = rate * 2 ** 52;
  return (id) => parseInt(id.traceId.slice(-13), 16) < bound;
}
