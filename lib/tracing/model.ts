/**
 * Spans as Zipkin's v2 API receives them (`Span`, `Endpoint`, `Annotation` in
 * zipkin2-api.yaml): plain records, filled in place while a span runs and handed to
 * the exporter when it finishes. Fields left empty (no parent, no tags, `debug`
 * false) are left out of the JSON, as zipkin-js's JSON v2 encoder leaves them out.
 */

export type SpanKind = 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';

/** A node in the service graph; made once per service and shared by its spans, so never changed. */
export interface Endpoint {
  /** Lower case (Zipkin's convention). */
  readonly serviceName?: string;
  /** Dotted quad (zipkin2-api.yaml: `format: ipv4`), also for an IPv4-mapped IPv6 address. */
  readonly ipv4?: string;
  /** RFC 5952 text (zipkin2-api.yaml: `format: ipv6`). */
  readonly ipv6?: string;
  readonly port?: number;
}

export interface Annotation {
  /** Epoch microseconds. */
  timestamp: number;
  value: string;
}

export interface ZipkinSpan {
  /** 16 or 32 lowercase hex characters. */
  readonly traceId: string;
  /** 16 lowercase hex characters; undefined for a root span. */
  readonly parentId: string | undefined;
  /** 16 lowercase hex characters. */
  readonly id: string;
  kind: SpanKind | undefined;
  /** Lower case; empty: none. */
  name: string;
  /** Epoch microseconds of the start. */
  timestamp: number;
  /** Microseconds, at least 1 once finished; 0 before. */
  duration: number;
  localEndpoint: Endpoint | undefined;
  remoteEndpoint: Endpoint | undefined;
  /** In the order they happened; undefined: none yet. */
  annotations: Annotation[] | undefined;
  /** String values; the first write of a key sets its place, later writes replace its value. */
  tags: Record<string, string>;
  /** B3 debug: recorded whatever the sampling rate. */
  debug: boolean;
  /** A server span sharing its id with the client span that called it (B3's join). */
  shared: boolean;
}

/** Where finished spans go: an exporter to Zipkin, or a test's memory. */
export interface SpanLogger {
  logSpan(span: ZipkinSpan): void;
}
