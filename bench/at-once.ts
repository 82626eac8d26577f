/**
 * Section 1's handlers measured at once rather than in turn: every variant offered the same fixed
 * rate at the same time (autocannon, open loop), each handler pinned to the first core and everything
 * else to the other, CPU per request of each over the same windows. The shared machine's drift then
 * lands on all variants within a window, so differences between them hold steadier than between
 * rounds in turn; absolute µs still move with the machine's speed from run to run.
 *
 *   node --import tsx bench/at-once.ts ours-unsampled wire-only --rate=1500 --windows=14
 *
 * Variants: those of section 1 (bench/overhead.ts) and `wire-only` (bench/servers/wire-only.ts); the
 * untraced handler always runs as the baseline. Prints, per variant, the req/s answered, CPU µs per
 * request and CPU µs added (medians over windows; added: of the differences within a window).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { load, median } from './load.ts';
import { SERVERS, type Variant } from './overhead.ts';
import { cpuSeconds, pinToCpus, startCollectorProcess, startScript, type BenchProcess } from './processes.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rate: { type: 'string', default: '1200' }, windows: { type: 'string', default: '12' }, 'window-s': { type: 'string', default: '3' } },
});
const all: Record<string, [string, Record<string, string>]> = { ...SERVERS, 'wire-only': ['wire-only.ts', {}] };
const names = ['untraced', ...positionals.filter((name) => name !== 'untraced')];
const unknown = names.filter((name) => !(name in all));
if (unknown.length > 0) throw new Error(`unknown variants: ${unknown.join(', ')} (known: ${Object.keys(all).join(', ')})`);
const [rate, windows, windowS] = [Number(values.rate), Number(values.windows), Number(values['window-s'])];
if (os.availableParallelism() < 2) throw new Error('needs two cores: the handlers on one, the rest on the other');

const started: Array<{ stop(): Promise<void> }> = [];
try {
  const collector = await startCollectorProcess();
  started.push(collector);
  const downstream = await startScript('downstream', 'downstream.ts');
  started.push(downstream);
  const servers: Record<string, BenchProcess> = {};
  for (const name of names) {
    const [script, env] = all[name as Variant | 'wire-only']!;
    servers[name] = await startScript(name, script, { env: { DOWNSTREAM_URL: downstream.url, ZIPKIN_URL: collector.url, ...env } });
    started.push(servers[name]);
  }
  const pinned =
    names.every((name) => pinToCpus(servers[name]!.process.pid!, '0')) &&
    [process.pid, downstream.process.pid!, collector.pid].every((pid) => pinToCpus(pid, '1'));
  if (!pinned) throw new Error('could not pin processes to cores (taskset)');

  const cpu = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  const rps = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  const window = async (seconds: number) => {
    const pids = names.map((name) => servers[name]!.process.pid!);
    const before = pids.map(cpuSeconds);
    const results = await Promise.all(names.map((name) => load({ url: `${servers[name]!.url}/accounts/10001`, connections: 10, durationS: seconds, rate })));
    return names.map((name, i) => ({ name, rps: results[i]!.rps, us: ((cpuSeconds(pids[i]!) - before[i]!) / results[i]!.ok) * 1e6 }));
  };
  // Warm-up: the JIT settles before anything counts.
  await window(2 * windowS);
  for (let w = 0; w < windows; w++) {
    for (const { name, rps: answered, us } of await window(windowS)) {
      cpu[name]!.push(us);
      rps[name]!.push(answered);
    }
    console.error(`window ${w + 1} of ${windows}`);
  }
  console.log(`${names.length} handlers at once, ${rate} req/s each, ${windows} windows of ${windowS} s`);
  for (const name of names) {
    const added = name === 'untraced' ? '' : `  added ${median(cpu[name]!.map((us, i) => us - cpu.untraced![i]!)).toFixed(1)}`;
    console.log(`${name.padEnd(16)} ${median(rps[name]!).toFixed(0).padStart(6)} req/s  ${median(cpu[name]!).toFixed(1).padStart(6)} µs${added}`);
  }
} finally {
  await Promise.all(started.map((process) => process.stop()));
}
