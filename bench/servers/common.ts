/**
 * What the overhead benchmark's handler variants share, so they differ only in
 * tracing: the handler's own work, the downstream call, and how a server announces
 * its port and stops.
 */
import process from 'node:process';
import { createHttpTransport } from '../../lib/http-transport.ts';
import { listen, onTermination, type FetchHandler } from '../../lib/server.ts';

export interface Account {
  id: string;
  name: string;
}

const ACCOUNTS = new Map<string, Account>(
  Array.from({ length: 100 }, (_, i) => [String(10_000 + i), { id: String(10_000 + i), name: `Person_${i}` }]),
);

/** The handler's local work (what the child span covers): a lookup. */
export function findAccount(id: string): Account {
  return ACCOUNTS.get(id) ?? { id, name: 'unknown' };
}

/** Where the outgoing call goes (bench/servers/downstream.ts). */
export function downstreamUrl(): URL {
  return new URL('/api/quote', process.env['DOWNSTREAM_URL'] ?? 'http://127.0.0.1:8080');
}

const transport = createHttpTransport();

/**
 * The downstream call, over the transport ServiceClient uses (lib/http-transport.ts), with the
 * variant's headers: the same client for every variant, so they differ only in tracing.
 */
export async function callDownstream(target: URL, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await transport.send({ method: 'GET', url: target, headers });
  return { status: response.status, body: await response.json() };
}

export function zipkinUrl(): string {
  return process.env['ZIPKIN_URL'] ?? 'http://127.0.0.1:9411';
}

/** Serves `fetch` on PORT (0: any), logs the `listening` line the bench waits for, exits on SIGTERM. */
export async function serve(fetch: FetchHandler, beforeExit?: () => Promise<void>): Promise<void> {
  const server = await listen(fetch, Number(process.env['PORT'] ?? 0));
  console.log(JSON.stringify({ msg: 'listening', port: server.port }));
  onTermination(async () => {
    await server.close();
    await beforeExit?.();
    // An explicit exit, so `--cpu-prof` writes its profile.
    process.exit(0);
  });
}

/**
 * Propagation's bytes without tracing code, for wire-only.ts and floor.ts: a fixed `traceresponse`
 * for Node's response, and the five trace headers (B3 multi and `traceparent`) with `accept` for the
 * call, `sampled` as the caller's decision.
 */
export function fixedPropagation(sampled: '0' | '1'): { traceId: string; traceresponse: string; headers: Record<string, string> } {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const traceresponse = `00-${traceId}-b7ad6b7169203331-0${sampled}`;
  const headers = {
    accept: 'application/json',
    'x-b3-traceid': traceId,
    'x-b3-spanid': 'b7ad6b7169203331',
    'x-b3-parentspanid': '00f067aa0ba902b7',
    'x-b3-sampled': sampled,
    traceparent: traceresponse,
  };
  return { traceId, traceresponse, headers };
}

/** Sets `traceresponse` on Node's response, as lib/tracing's middleware does (nothing on Deno). */
export function setTraceresponse(env: unknown, traceresponse: string): void {
  (env as { outgoing?: { setHeader(name: string, value: string): unknown } }).outgoing?.setHeader('traceresponse', traceresponse);
}
