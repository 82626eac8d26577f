/**
 * What one call between services costs the calling process, on the runtime running this script:
 * `node --import tsx bench/servers/call-cost.ts` or `deno run -A bench/servers/call-cost.ts`, with
 * DOWNSTREAM_URL at bench/servers/downstream.ts. Prints JSON: CPU µs per call by variant (the
 * process's, all threads), one figure per round (ROUNDS rounds of PER_ROUND calls, CONCURRENCY in
 * flight), the variants in turn so that drift lands on both:
 * - `exchange`: the GET and its JSON body through lib/http-transport.ts alone, as the bare chain calls;
 * - `ServiceClient`: the same GET as accountservice makes it (breaker, retries, the attempt's time
 *   limit, a CLIENT span and its B3 and W3C headers), under a recorded parent span; spans are dropped
 *   as they finish, so export is not in it (section 5 measures that).
 */
import process from 'node:process';
import { ServiceClient } from '../../lib/http-client.ts';
import { createHttpTransport } from '../../lib/http-transport.ts';
import { createLogger } from '../../lib/log.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { downstreamUrl } from './common.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 15);
const PER_ROUND = Number(process.env['PER_ROUND'] ?? 3000);
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? 20);

const target = downstreamUrl();
const transport = createHttpTransport();
const tracing = new Tracing({ serviceName: 'bench-caller', exporter: { logSpan: () => {} } });
// Warnings (a breaker changing state) to standard error: standard output is the result.
const log = createLogger({ service: 'bench-caller' }, { level: 'warn', write: (line) => process.stderr.write(`${line}\n`) });
const client = new ServiceClient<unknown>({ service: 'downstream', baseUrl: target.origin, fallback: () => null, log });

type Call = () => Promise<unknown>;
const variants: Record<string, Call> = {
  exchange: async () => (await transport.send({ method: 'GET', url: target, headers: { accept: 'application/json' } })).json(),
  ServiceClient: async () => {
    const parent = tracing.rootSpan('caller', { kind: 'SERVER' });
    const answer = await client.fetchJson(target.pathname, parent, 'call');
    parent.finish();
    if (answer === null) throw new Error('ServiceClient fell back: the downstream did not answer');
    return answer;
  },
};

/** PER_ROUND calls, CONCURRENCY at a time; CPU µs per call. */
async function round(call: Call): Promise<number> {
  let left = PER_ROUND;
  const started = process.cpuUsage();
  const worker = async () => {
    while (left-- > 0) await call();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(started);
  return (used.user + used.system) / PER_ROUND;
}

const results: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
// Warm-up, then rounds in turn.
for (const call of Object.values(variants)) await round(call);
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, call] of Object.entries(variants)) results[name]!.push(await round(call));
}
client.close();
await transport.close();
console.log(JSON.stringify(results));
process.exit(0);
