/** Small waits shared by the tests and the benchmarks. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds, polling every `everyMs`; fails naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * A port nothing listens on (until the caller starts something there), below the system's
 * ephemeral range where it has one (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768 and
 * up by default). A port the system hands out for listening is one it also hands out as the
 * local end of outgoing connections: between this call and the caller's listen, any connection
 * on the machine could take it (seen as RabbitMQ's `dist_port_already_used`). Below that range
 * only another listener can.
 */
export async function freePort(): Promise<number> {
  const lowest = 10_000;
  const ephemeralStart = ephemeralRangeStart();
  for (let tries = 0; ephemeralStart > lowest && tries < 100; tries++) {
    const port = lowest + Math.floor(Math.random() * (ephemeralStart - lowest));
    if ((await listenProblem(port)) === undefined) return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Where the system's ephemeral ports begin; 0 where that cannot be read. */
function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/**
 * Why `port` on `host` cannot be listened on now: the error code (`EADDRINUSE`, `EACCES`,
 * `EADDRNOTAVAIL`), or undefined when it is free. `::` is asked of `0.0.0.0` where the machine has
 * no IPv6 (EAFNOSUPPORT), as the services listen there then (lib/server.ts).
 */
export async function listenProblem(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  const server = createServer();
  const problem = await new Promise<string | undefined>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host, exclusive: true }, () => resolve(undefined));
  });
  if (!problem) await new Promise((resolve) => server.close(resolve));
  if (problem === 'EAFNOSUPPORT' && host === '::') return listenProblem(port, '0.0.0.0');
  return problem;
}
