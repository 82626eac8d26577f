import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linkDependencies } from './dependency-linker.ts';
import type { Span, SpanKind } from './span.ts';

/** Cases from Zipkin's DependencyLinkerTest, built like its span(…, parentId, id, kind, local, remote, error) helper. */
function span(parentId: string | null, id: string, kind: SpanKind | null, local: string | null, remote: string | null, error = false): Span {
  return {
    traceId: '000000000000000a',
    ...(parentId ? { parentId: parentId.padStart(16, '0') } : {}),
    id: id.padStart(16, '0'),
    ...(kind ? { kind } : {}),
    ...(local ? { localEndpoint: { serviceName: local } } : {}),
    ...(remote ? { remoteEndpoint: { serviceName: remote } } : {}),
    ...(error ? { tags: { error: '' } } : {}),
  };
}
const link = (parent: string, child: string, callCount = 1, errorCount = 0) => ({ parent, child, callCount, errorCount });
const links = (...traces: Span[][]) => linkDependencies(traces);

describe('linkDependencies, as Zipkin\'s DependencyLinker', () => {
  test('a client and the server sharing its span id count one call, named by the server', () => {
    const shared: Span = { ...span(null, 'b', 'SERVER', 'app', null), shared: true };
    assert.deepEqual(links([span(null, 'a', 'SERVER', 'web', null), span('a', 'b', 'CLIENT', 'web', 'app-as-named-by-client'), { ...shared, parentId: '000000000000000a' }]), [
      link('web', 'app'),
    ]);
  });

  test('messaging links producer to broker and broker to consumer, and nothing without a broker', () => {
    assert.deepEqual(links([span(null, 'a', 'PRODUCER', 'producer', 'kafka'), span('a', 'b', 'CONSUMER', 'consumer', 'kafka', true)]), [
      link('producer', 'kafka'),
      link('kafka', 'consumer', 1, 1),
    ]);
    assert.deepEqual(links([span(null, 'a', 'PRODUCER', 'producer', null), span('a', 'b', 'CONSUMER', 'consumer', null)]), []);
  });

  test('a client without an instrumented server links to the remote service it named, with its error', () => {
    assert.deepEqual(links([span(null, 'a', 'SERVER', 'web', null), span('a', 'b', 'CLIENT', 'web', 'db', true)]), [link('web', 'db', 1, 1)]);
  });

  test('local spans between a server and its clients are skipped; errors count only where the remote is known', () => {
    const trace = (error: boolean) => [
      span(null, 'a', 'SERVER', 'foo', null),
      span('a', 'b', null, null, null),
      span('b', 'c', 'CLIENT', 'bar', 'baz', error),
      span('b', 'd', 'CLIENT', 'bar', 'baz'),
    ];
    assert.deepEqual(links(trace(true)), [link('foo', 'bar', 2), link('bar', 'baz', 2, 1)]);
  });

  test('a root server links only when it recorded its caller; a span without kind counts as a client', () => {
    assert.deepEqual(links([span(null, 'a', 'SERVER', 'web', null)]), []);
    assert.deepEqual(links([span(null, 'a', 'SERVER', 'web', 'browser')]), [link('browser', 'web')]);
    assert.deepEqual(links([span(null, 'a', null, 'web', 'cache', true)]), [link('web', 'cache', 1, 1)]);
  });

  test('a server whose client span (not sharing its id) failed carries the client\'s error', () => {
    assert.deepEqual(links([span(null, 'a', 'CLIENT', 'web', null, true), span('a', 'b', 'SERVER', 'app', null)]), [link('web', 'app', 1, 1)]);
  });

  test('without a root span, only spans whose parents are present link', () => {
    assert.deepEqual(links([span('a', 'b', 'SERVER', 'service1', null), span('a', 'c', 'SERVER', 'service2', null)]), []);
    assert.deepEqual(links([span('a', 'b', 'SERVER', 'service1', null), span('b', 'c', 'SERVER', 'service2', null)]), [link('service1', 'service2')]);
  });

  test('calls add up across traces', () => {
    const trace = [span(null, 'a', 'SERVER', 'web', null), span('a', 'b', 'CLIENT', 'web', 'db')];
    assert.deepEqual(links(trace, trace, [...trace.slice(0, 1), span('a', 'c', 'CLIENT', 'web', 'db', true)]), [link('web', 'db', 3, 1)]);
  });
});
