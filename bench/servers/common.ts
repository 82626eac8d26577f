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
