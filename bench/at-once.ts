/**
 * Section 1's handlers measured at once rather than in turn (measureAtOnce in bench/overhead.ts),
 * for telling a few µs of tracing cost apart:
 *
 *   node --import tsx bench/at-once.ts ours-unsampled wire-only --rate=1500 --windows=14 [--runtime=deno] [--cpu-prof=DIR]
 *
 * Variants: those of section 1, `wire-only` (bench/servers/wire-only.ts: what propagation puts on
 * the wire, without tracing code) and `floor` (bench/servers/floor.ts: that, and a request's spans as
 * fixed bytes posted to the collector); the untraced handler always runs, as the baseline. Each handler
 * is pinned to the first core, everything else to the other. Prints, per variant, req/s answered,
 * CPU µs per request and CPU µs added (medians over windows; added: of the differences within a window).
 * `--cpu-prof=DIR` (Node): each handler writes a V8 CPU profile under DIR/<variant> as it stops; on a
 * shared core a sample's time lands on whatever ran when the process was resumed, so profile handlers
 * two at a time.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { measureAtOnce, SERVERS } from './overhead.ts';
import type { Runtime } from '../tools/landscape.ts';
import { pinToCpus, startCollectorProcess, startScript, type BenchProcess } from './processes.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'cpu-prof': { type: 'string' }, runtime: { type: 'string', default: 'node' }, rate: { type: 'string', default: '1200' }, windows: { type: 'string', default: '12' }, 'window-s': { type: 'string', default: '3' } },
});
const scripts: Record<string, [string, Record<string, string>]> = { ...SERVERS, 'wire-only': ['wire-only.ts', {}], floor: ['floor.ts', {}] };
const names = ['untraced', ...positionals.filter((name) => name !== 'untraced')];
const unknown = names.filter((name) => !(name in scripts));
if (unknown.length > 0) throw new Error(`unknown variants: ${unknown.join(', ')} (known: ${Object.keys(scripts).join(', ')})`);
if (os.availableParallelism() < 2) throw new Error('needs two cores: the handlers on one, the rest on the other');
/** A positive whole number of an option, or an error naming it. */
const positive = (option: 'rate' | 'windows' | 'window-s'): number => {
  const value = Number(values[option]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${option} must be a whole number above 0, not ${JSON.stringify(values[option])}`);
  return value;
};
if (values.runtime !== 'node' && values.runtime !== 'deno') throw new Error(`--runtime must be node or deno, not ${JSON.stringify(values.runtime)}`);
const runtime: Runtime = values.runtime;
const settings = { rate: positive('rate'), windows: positive('windows'), windowS: positive('window-s') };

const started: Array<{ stop(): Promise<void> }> = [];
try {
  const collector = await startCollectorProcess();
  started.push(collector);
  const downstream = await startScript('downstream', 'downstream.ts');
  started.push(downstream);
  const servers: Record<string, BenchProcess> = {};
  for (const name of names) {
    const [script, env] = scripts[name]!;
    const profileDir = values['cpu-prof'];
    const nodeFlags = profileDir && runtime === 'node' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${name}`] : [];
    started.push((servers[name] = await startScript(name, script, { runtime, nodeFlags, env: { DOWNSTREAM_URL: downstream.url, ZIPKIN_URL: collector.url, ...env } })));
  }
  const pinned =
    names.every((name) => pinToCpus(servers[name]!.process.pid!, '0')) &&
    [process.pid, downstream.process.pid!, collector.pid].every((pid) => pinToCpus(pid, '1'));
  if (!pinned) throw new Error('could not pin processes to cores (taskset)');
  const handlers: Record<string, { url: string; pid: number }> = Object.fromEntries(
    names.map((name) => [name, { url: servers[name]!.url, pid: servers[name]!.process.pid! }]),
  );
  const result = await measureAtOnce(handlers, 'untraced', settings, (line) => console.error(line));
  console.log(`${names.length} handlers at once on ${runtime}, ${settings.rate} req/s each, ${settings.windows} windows of ${settings.windowS} s`);
  for (const name of names) {
    const added = name === 'untraced' ? '' : `  added ${result.cpuAddedUs[name]!.toFixed(1)}`;
    console.log(`${name.padEnd(16)} ${result.rps[name]!.toFixed(0).padStart(6)} req/s  ${result.cpuPerRequestUs[name]!.toFixed(1).padStart(6)} µs${added}`);
  }
} finally {
  // Handlers first: a traced one flushes its spans to the collector as it stops (and writes its profile).
  for (const child of started.reverse()) await child.stop();
}
