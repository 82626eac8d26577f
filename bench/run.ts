/**
 * `npm run bench`: every comparison, contenders in turn, then BENCHMARKS.md.
 *
 *   npm run bench                         all of them; writes BENCHMARKS.md (about 11 minutes)
 *   npm run bench -- --quick              a short smoke run; prints the report
 *   npm run bench -- --only=overhead      overhead | end-to-end | export | containers | calls (comma-separated); prints the report
 *   npm run bench -- --runtime=deno       end to end and calls on one runtime only
 *   npm run bench -- --profile            also CPU-profiles the Node processes (perturbs the numbers)
 *   npm run bench -- --out=report.md      writes the report there instead
 *
 * The hand-written "## Findings" section of an existing BENCHMARKS.md is kept.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ROOT, type Runtime } from '../tools/landscape.ts';
import { runCallCost } from './calls.ts';
import { runEndToEnd, type EndToEndResult } from './end-to-end.ts';
import { runContainerMemory } from './containers.ts';
import { runExporterAlone } from './export.ts';
import { runOverhead, runTracingCost } from './overhead.ts';
import { summariseProfile } from './profile.ts';
import { renderReport, type Machine, type Results } from './report.ts';
import { runLmdbRead } from './storage.ts';

const COMPARISONS = ['overhead', 'end-to-end', 'export', 'containers', 'calls'] as const;
type Comparison = (typeof COMPARISONS)[number];

function parseArgs(argv: string[]) {
  const value = (name: string) => argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const list = <T extends string>(name: string, allowed: readonly T[]): T[] | undefined => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    const items = raw.split(',');
    for (const item of items) {
      if (!allowed.includes(item as T)) throw new Error(`--${name}: ${item} is not one of ${allowed.join(', ')}`);
    }
    return items as T[];
  };
  const known = ['--quick', '--profile'];
  for (const arg of argv) {
    if (!known.includes(arg) && !/^--(only|runtime|out)=/.test(arg)) throw new Error(`unknown argument ${arg}`);
  }
  const only = list('only', COMPARISONS);
  return {
    quick: argv.includes('--quick'),
    profile: argv.includes('--profile'),
    only,
    runtimes: list<Runtime>('runtime', ['node', 'deno']) ?? (['node', 'deno'] as Runtime[]),
    out: value('out') ?? (only || argv.includes('--quick') ? undefined : join(ROOT, 'BENCHMARKS.md')),
  };
}

function machine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim();
  const deno = execFileSync(`${ROOT}node_modules/.bin/deno`, ['--version']).toString().split('\n')[0] ?? '';
  // What was measured: the commit, and the product files changed on top of it.
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT }).toString();
  // Not trimmed: each porcelain line starts with its two status columns, a space among them.
  const changed = git('status', '--porcelain', '--', 'lib', 'services', 'tools')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  return {
    cpu: model ?? os.cpus()[0]?.model ?? 'unknown',
    revision: git('rev-parse', '--short', 'HEAD').trim() + (changed.length > 0 ? ` with changes to ${changed.join(', ')}` : ''),
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version.slice(1),
    deno: deno.replace(/^deno /, ''),
    kernel: os.release(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  };
}

/** The hand-written findings of the report at `path`, if it has them. */
function keptFindings(path: string | undefined): string {
  const text = path && existsSync(path) ? readFileSync(path, 'utf8') : '';
  const at = text.indexOf('\n## Findings');
  return at >= 0 ? text.slice(at + 1) : '## Findings\n\nNone written yet.\n';
}

const args = parseArgs(process.argv.slice(2));
const runs = (comparison: Comparison) => !args.only || args.only.includes(comparison);
const progress = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const q = args.quick;
const started = performance.now();
const profileDir = args.profile ? mkdtempSync(join(os.tmpdir(), 'bench-profiles-')) : undefined;
const results: Results = { machine: machine(), quick: q, durationS: 0, endToEnd: {}, lmdb: [], profiles: [] };

if (runs('overhead')) {
  progress('1. tracing overhead on one service');
  results.overhead = await runOverhead(
    {
      connections: 20,
      durationS: q ? 2 : 4,
      // Nine: the target's row moved by 20 µs between runs of five on this shared machine.
      rounds: q ? 1 : 9,
      warmupS: q ? 1 : 2,
      // Six handlers on one core at 600 req/s each kept it some 60 % busy: each answers what it is offered.
      atOnce: { rate: 600, windows: q ? 2 : 12, windowS: q ? 1 : 4 },
      ...(profileDir ? { profileDir: join(profileDir, 'overhead') } : {}),
    },
    progress,
  );
  progress('1. the tracing work alone');
  results.tracingCost = await runTracingCost(q ? 1 : 9, q ? 5000 : 20_000);
}

const exportSettings = {
  exportSteps: q ? [4] : [1, 4, 16, 64],
  exportStepS: q ? 2 : 5,
  overloadConnections: q ? 64 : 256,
};
if (runs('end-to-end') || runs('export')) {
  for (const runtime of args.runtimes) {
    progress(`2-5. end to end on ${runtime}`);
    const profiled = profileDir && runtime === 'node';
    if (profiled) process.env['BENCH_CPU_PROF_DIR'] = profileDir;
    let result: EndToEndResult | undefined;
    try {
      result = await runEndToEnd(
        {
          runtime,
          // The plumbing alone: the target's ceiling counts hops, not the CPU quotes burn (the original's strength is measured beside it).
          quoteStrength: 0,
          connections: 20,
          durationS: q ? 2 : 5,
          rounds: q ? 1 : 5,
          warmupS: q ? 1 : 3,
          ...(runs('export') ? exportSettings : {}),
          ...(profiled ? { nodeOptions: '--import tsx --import ./bench/cpu-profile.ts' } : {}),
        },
        progress,
      );
      results.endToEnd[runtime] = result;
      progress(`3. LMDB reads on ${runtime}`);
      results.lmdb.push(await runLmdbRead(runtime, join(result.dataDir, 'accountservice'), q ? 20_000 : 200_000));
    } finally {
      delete process.env['BENCH_CPU_PROF_DIR'];
      if (result) rmSync(result.dataDir, { recursive: true, force: true });
    }
  }
}

if (runs('export')) {
  progress('5. the exporter alone');
  results.exporter = await runExporterAlone(q ? [10_000, 80_000] : [10_000, 40_000, 80_000, 120_000, 160_000], q ? 1 : 2);
}

if (runs('containers')) {
  progress('6. memory in containers, as Kubernetes counts it');
  results.containers = await runContainerMemory({ connections: 20, durationS: q ? 3 : 15, idleS: q ? 2 : 5 }, progress);
}

if (runs('calls')) {
  results.calls = await runCallCost(args.runtimes, { rounds: q ? 2 : 15, perRound: q ? 500 : 3000, concurrency: 20 }, progress);
}

if (profileDir) {
  const files = readdirSync(profileDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.cpuprofile'));
  for (const file of files.sort()) {
    const summary = summariseProfile(join(profileDir, file));
    // Helper threads (tsx's module loader) sit idle; only the processes that served requests matter.
    const name = file.startsWith('overhead/') ? `overhead: ${file.split('/')[1]}` : `end to end: ${file.split('.')[0]}`;
    if (summary.busyMs > 500) results.profiles.push({ process: name, summary });
  }
  progress(`profiles (open in Chrome DevTools or speedscope for flame graphs): ${profileDir}`);
}

results.durationS = (performance.now() - started) / 1000;
const report = renderReport(results, keptFindings(args.out ?? join(ROOT, 'BENCHMARKS.md')));
if (args.out) {
  writeFileSync(args.out, report);
  progress(`wrote ${args.out}`);
} else {
  console.log(report);
}
process.exit(0);
