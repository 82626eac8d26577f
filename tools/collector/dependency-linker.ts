/**
 * Dependency links between services, derived from traces the way Zipkin derives them
 * (zipkin2.internal.DependencyLinker): per trace, the span tree is walked breadth first and each
 * remote span counts one call from its parent service to its child service — client to server,
 * producer to broker, broker to consumer.
 */
import { buildSpanTree, isError, type SpanNode } from '../trace-tree.ts';
import type { Span } from './span.ts';

/** The `DependencyLink` of the Zipkin v2 API. */
export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount: number;
}

/** Links of all given traces (each a list of spans sharing a trace id), in order of first sight. */
export function linkDependencies(traces: Iterable<readonly Span[]>): DependencyLink[] {
  const links = new Map<string, DependencyLink>();
  const addLink = (parent: string, child: string, error: boolean) => {
    const key = JSON.stringify([parent, child]);
    const link = links.get(key) ?? { parent, child, callCount: 0, errorCount: 0 };
    link.callCount++;
    if (error) link.errorCount++;
    links.set(key, link);
  };
  for (const spans of traces) if (spans.length > 0) linkTrace(buildSpanTree(spans), addLink);
  return [...links.values()];
}

function linkTrace(root: SpanNode, addLink: (parent: string, child: string, error: boolean) => void): void {
  const queue = root.span ? [root] : [...root.children];
  for (let i = 0; i < queue.length; i++) {
    const current = queue[i]!;
    queue.push(...current.children);
    const span = current.span!;
    let kind = span.kind;
    // For a client with children, the server's own span names the link.
    if (kind === 'CLIENT' && current.children.length > 0) continue;

    const serviceName = span.localEndpoint?.serviceName;
    const remoteServiceName = span.remoteEndpoint?.serviceName;
    if (kind === undefined) {
      // A span of unknown kind counts as a client when both sides are known.
      if (!serviceName || !remoteServiceName) continue;
      kind = 'CLIENT';
    }

    let parent: string | undefined;
    let child: string | undefined;
    if (kind === 'SERVER' || kind === 'CONSUMER') {
      child = serviceName;
      parent = remoteServiceName;
      // The root's caller is unknown unless it recorded a remote endpoint.
      if (current === root && !parent) continue;
    } else {
      parent = serviceName;
      child = remoteServiceName;
    }

    let error = isError(span);
    if (kind === 'PRODUCER' || kind === 'CONSUMER') {
      if (parent && child) addLink(parent, child, error);
      continue;
    }

    // Local spans may sit between this span and its remote ancestor.
    const ancestor = firstRemoteAncestor(current);
    const ancestorName = ancestor?.localEndpoint?.serviceName;
    if (ancestor && ancestorName) {
      // Some instrumentation puts the remote service name on a client span: backfill the link to it.
      if (kind === 'CLIENT' && serviceName && ancestorName !== serviceName) addLink(ancestorName, serviceName, false);
      if (kind === 'SERVER' || !parent) parent = ancestorName;
      // When an RPC is split in a client and a server span, the client's error counts too.
      if (!error && ancestor.kind === 'CLIENT' && span.parentId !== undefined && span.parentId === ancestor.id) {
        error = isError(ancestor);
      }
    }
    if (parent && child) addLink(parent, child, error);
  }
}

function firstRemoteAncestor(node: SpanNode): Span | undefined {
  for (let ancestor = node.parent; ancestor; ancestor = ancestor.parent) {
    if (ancestor.span?.kind !== undefined) return ancestor.span;
  }
  return undefined;
}
