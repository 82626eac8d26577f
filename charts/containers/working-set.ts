/**
 * A container's memory as Kubernetes counts it: the working set, which the kubelet compares
 * with the memory limit and evicts on, and `kubectl top` shows — the cgroup's memory usage less
 * its inactive file cache (cAdvisor's container_memory_working_set_bytes):
 *
 * - cgroup v1: memory.usage_in_bytes − total_inactive_file (memory.stat)
 * - cgroup v2: memory.current − inactive_file (memory.stat)
 *
 * Read from the cgroup of a process in the container (Linux /proc and /sys/fs/cgroup).
 */
import { existsSync, readFileSync } from 'node:fs';
import { docker } from './engine.ts';

/** The working set of the memory cgroup `pid` belongs to, in bytes. */
export function workingSetBytes(pid: number): number {
  const { dir, v1 } = memoryCgroup(pid);
  const usage = Number(readFileSync(`${dir}/${v1 ? 'memory.usage_in_bytes' : 'memory.current'}`, 'utf8'));
  const stat = memoryStat(dir);
  return Math.max(0, usage - Number((v1 ? stat.total_inactive_file : stat.inactive_file) ?? 0));
}

/** The memory cgroup directory of `pid`, and whether it is cgroup v1. */
function memoryCgroup(pid: number): { dir: string; v1: boolean } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((line) => line.split(':')[1]?.split(',').includes('memory'));
  if (v1) return { dir: `/sys/fs/cgroup/memory${v1.split(':')[2]}`, v1: true };
  const v2 = lines.find((line) => line.startsWith('0::'));
  if (!v2) throw new Error(`no memory cgroup for process ${pid}`);
  return { dir: `/sys/fs/cgroup${v2.slice(3)}`, v1: false };
}

function memoryStat(dir: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`${dir}/memory.stat`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]),
  );
}

/**
 * What a working set is made of, in bytes: anonymous memory, file pages counted as active, and
 * the kernel's memory charged to the cgroup (socket buffers, slab, page tables, stacks).
 */
export interface WorkingSetParts {
  anonBytes: number;
  activeFileBytes: number;
  kernelBytes: number;
}

/**
 * The parts of the working set of the cgroup `pid` belongs to. cgroup v1: memory.stat's
 * `total_rss` and `total_active_file`, and memory.kmem.usage_in_bytes (0 where kernel memory is
 * not accounted). cgroup v2: memory.stat's `anon`, `active_file` and `kernel` (Linux ≥ 5.18; the
 * sum of its parts before).
 */
export function workingSetParts(pid: number): WorkingSetParts {
  const { dir, v1 } = memoryCgroup(pid);
  const s = memoryStat(dir);
  if (v1) {
    const kmem = `${dir}/memory.kmem.usage_in_bytes`;
    return {
      anonBytes: Number(s.total_rss ?? 0),
      activeFileBytes: Number(s.total_active_file ?? 0),
      kernelBytes: existsSync(kmem) ? Number(readFileSync(kmem, 'utf8')) : 0,
    };
  }
  const kernel = s.kernel ?? ['slab', 'sock', 'kernel_stack', 'pagetables', 'percpu'].reduce((sum, key) => sum + Number(s[key] ?? 0), 0);
  return { anonBytes: Number(s.anon ?? 0), activeFileBytes: Number(s.active_file ?? 0), kernelBytes: Number(kernel) };
}

/** The host pid of a running container's first process. */
export async function containerPid(container: string): Promise<number> {
  const { stdout } = await docker(['inspect', '--format', '{{.State.Pid}}', container]);
  const pid = Number(stdout.trim());
  if (!pid) throw new Error(`container ${container} is not running`);
  return pid;
}

/** Samples the working set of each container (by name → pid) every `everyMs` until stopped. */
export function sampleWorkingSets(pids: Record<string, number>, everyMs = 250) {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const take = () => {
    for (const [name, pid] of Object.entries(pids)) {
      try {
        samples[name]!.push(workingSetBytes(pid));
      } catch {
        // Gone in the meantime.
      }
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
