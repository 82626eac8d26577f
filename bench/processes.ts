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

/** What `cpuSeconds` has seen of each process's threads: ns on a CPU by thread id, and the sum of those gone. */
const threadTimes = new Map<number, { byThread: Map<string, number>; goneNs: number }>();

/**
 * CPU time (user + system) a process has used so far, in seconds, to the nanosecond: the sum over
 * its threads of the first field of /proc/PID/task/TID/schedstat (time on a CPU, ns). /proc/PID/stat
 * counts in clock ticks of 10 ms, which over a window of 2,400 requests is 4.2 µs a request: as
 * coarse as the differences measured. A thread that has ended counts with what the last call saw
 * of it (the servers measured keep theirs). NaN when the process is gone or /proc is not there.
 */
export function cpuSeconds(pid: number): number {
  let seen = threadTimes.get(pid);
  if (!seen) threadTimes.set(pid, (seen = { byThread: new Map(), goneNs: 0 }));
  const now = new Map<string, number>();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        now.set(task, Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]));
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    threadTimes.delete(pid);
    return Number.NaN;
  }
  for (const [task, ns] of seen.byThread) {
    const current = now.get(task);
    // Gone, or its id taken by a new thread since.
    if (current === undefined || current < ns) seen.goneNs += ns;
  }
  let totalNs = seen.goneNs;
  for (const ns of now.values()) totalNs += ns;
  seen.byThread = now;
  return totalNs / 1e9;
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
