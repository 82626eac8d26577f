/**
 * The benchmark's own server processes (not the landscape's: tools/landscape.ts starts
 * those): a script on Node or Deno that logs a JSON `listening` line with its port, as
 * the services do; the collector in a process of its own; resident memory from /proc.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ROOT, type Runtime } from '../tools/landscape.ts';
import type { CollectorQuery, CollectorReply, CollectorStats } from './servers/collector.ts';

export interface BenchProcess {
  name: string;
  url: string;
  port: number;
  process: ChildProcess;
  /** Lines written to stdout and stderr. */
  lines: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  runtime?: Runtime;
  env?: Record<string, string>;
  /** Extra Node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  startTimeoutMs?: number;
}

/** The command line that runs `bench/servers/<script>` on a runtime, from the repository's root. */
export function scriptCommand(runtime: Runtime, script: string, nodeFlags: string[] = []): [string, string[]] {
  const entry = `bench/servers/${script}`;
  return runtime === 'deno'
    ? [`${ROOT}node_modules/.bin/deno`, ['run', '-A', entry]]
    : [process.execPath, [...nodeFlags, '--import', 'tsx', entry]];
}

/** Runs `bench/servers/<script>` and resolves once it listens. */
export async function startScript(
  name: string,
  script: string,
  { runtime = 'node', env = {}, nodeFlags = [], startTimeoutMs = 30_000 }: StartOptions = {},
): Promise<BenchProcess> {
  const [command, args] = scriptCommand(runtime, script, nodeFlags);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const late = () => reject(new Error(`${name} did not start within ${startTimeoutMs} ms`));
    const timer = setTimeout(late, startTimeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before listening:\n${lines.slice(-10).join('\n')}`));
    });
  });
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    process: child,
    lines,
    stop: () => stopChild(child, exited),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(kill);
}

export interface CollectorProcess {
  url: string;
  pid: number;
  stats(): Promise<CollectorStats>;
  /** Durations (µs) of every span named `name` received so far. */
  durations(name: string): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * The local Zipkin-API collector (tools/collector, which validates every span) in a
 * process of its own, so its ingest work never stalls the load generator's event loop.
 */
export async function startCollectorProcess(): Promise<CollectorProcess> {
  const child = fork(`${ROOT}bench/servers/collector.ts`, [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, (reply: CollectorReply) => void>();
  let nextId = 0;
  let ready!: (url: string) => void;
  const started = new Promise<string>((resolve) => (ready = resolve));
  child.on('message', (message: CollectorReply) => {
    if (message.type === 'listening') ready(message.url);
    else pending.get(message.id)?.(message);
  });
  const ask = (request: CollectorQuery) =>
    new Promise<CollectorReply>((resolve) => {
      const id = nextId++;
      pending.set(id, (reply) => {
        pending.delete(id);
        resolve(reply);
      });
      child.send({ ...request, id });
    });
  const url = await Promise.race([
    started,
    exited.then(() => {
      throw new Error('the collector exited before listening');
    }),
  ]);
  return {
    url,
    pid: child.pid!,
    async stats() {
      const reply = await ask({ type: 'stats' });
      if (reply.type !== 'stats') throw new Error(`unexpected collector reply ${reply.type}`);
      return reply.stats;
    },
    async durations(name) {
      const reply = await ask({ type: 'durations', name });
      if (reply.type !== 'durations') throw new Error(`unexpected collector reply ${reply.type}`);
      return reply.durations;
    },
    stop: () => stopChild(child, exited),
  };
}

export interface MemorySample {
  /** VmRSS, bytes. */
  rss: number;
  /** RssAnon, bytes: the process's own memory; the rest of VmRSS is file-backed (the runtime's executable, mostly). */
  anon: number;
}

/** Resident memory of a process and its descendants (Linux /proc). */
export function memoryBytes(pid: number): MemorySample {
  const total = { rss: 0, anon: 0 };
  for (const id of [pid, ...descendants(pid)]) {
    try {
      const status = readFileSync(`/proc/${id}/status`, 'utf8');
      total.rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      total.anon += Number(/^RssAnon:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // Gone in the meantime.
    }
  }
  return total;
}

function descendants(pid: number): number[] {
  const found: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of children ? children.split(/\s+/).map(Number) : []) found.push(child, ...descendants(child));
    }
  } catch {
    // No /proc (not Linux) or the process is gone.
  }
  return found;
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc). */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * Pins a process, all its threads, to the given CPUs (`taskset`, util-linux), so processes
 * measured against each other do not also compete for the same core. False when it cannot.
 */
export function pinToCpus(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** Samples `memoryBytes` for each pid every `everyMs` until stopped. */
export function sampleMemory(pids: Record<string, number>, everyMs = 250) {
  const samples: Record<string, MemorySample[]> = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids)) samples[name]!.push(memoryBytes(pid));
  }, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}
