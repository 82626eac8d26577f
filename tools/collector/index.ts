export { createCollectorApp, DEFAULT_MAX_BODY_BYTES } from './app.ts';
export type { CollectorApp, CollectorAppOptions, CollectorLogEvent } from './app.ts';
export { startCollector } from './server.ts';
export type { RunningCollector, StartCollectorOptions } from './server.ts';
export { createSpanStore, DEFAULT_MAX_SPANS } from './span-store.ts';
export type { SpanStore, SpanStoreOptions } from './span-store.ts';
export type { Annotation, Endpoint, Span, SpanKind } from './span.ts';
