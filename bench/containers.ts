/**
 * (6) Memory as Kubernetes counts it: each service's container working set (the kubelet's
 * measure against the memory limit: charts/containers/working-set.ts), idle and under load, beside
 * the chart's requests and limits. The landscape is the chart itself run on Docker
 * (charts/containers, as `npm run test:containers` runs it); the load goes to accountservice's
 * pod (GET /accounts/10000: all four services and RabbitMQ work) and then to imageservice's
 * (GET /file/<sample>: a sepia toning each). The images' files are read once before the pods
 * start, as on a node that has just pulled them (readAsPulled).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { DOCKER, docker, ensureEngine } from '../charts/containers/engine.ts';
import { ContainerRun } from '../charts/containers/landscape.ts';
import { quantity } from '../charts/containers/pod-run.ts';
import { containerPid, sampleWorkingSets, workingSetParts, type WorkingSetParts } from '../charts/containers/working-set.ts';
import { OUR_SERVICES } from '../charts/test/render.ts';
import { pod } from '../charts/test/topology.ts';
import { sleep } from '../tools/wait.ts';
import { describe, load, median, type LoadResult } from './load.ts';

export interface ContainerMemorySettings {
  connections: number;
  durationS: number;
  idleS: number;
}

export interface ContainerMemory {
  requestBytes: number;
  limitBytes: number;
  idleBytes: number;
  loadMedianBytes: number;
  loadMaxBytes: number;
  /** What the working set held when the load ended. */
  after: WorkingSetParts;
}

export interface ContainerMemoryResult {
  settings: ContainerMemorySettings;
  services: Record<string, ContainerMemory>;
  loads: { what: string; result: LoadResult }[];
}

export async function runContainerMemory(settings: ContainerMemorySettings, progress: (line: string) => void): Promise<ContainerMemoryResult> {
  await ensureEngine(progress);
  const run = new ContainerRun(progress);
  try {
    await run.ensureBaseImages();
    const images = await run.buildImages();
    await readAsPulled(images.map((image) => image.tag));
    const manifests = run.render();
    const runs = await run.plan(manifests);
    await run.startPods(runs);
    const ours = runs.filter((r) => OUR_SERVICES.includes(r.pod));
    const pids = Object.fromEntries(await Promise.all(ours.map(async (r) => [r.pod, await containerPid(r.container)] as const)));
    const ip = (name: string) => runs.find((r) => r.pod === name)!.ip;

    // One request first, so that idle means started and used once, as after a readiness check.
    await fetch(`http://${ip('accountservice')}:6767/accounts/10000`).then((r) => r.body?.cancel());
    const idle = sampleWorkingSets(pids);
    await sleep(settings.idleS * 1000);
    const idleSamples = idle.stop();

    const underLoad = sampleWorkingSets(pids);
    const loads = [];
    for (const [what, url] of [
      ['GET /accounts/10000 at accountservice', `http://${ip('accountservice')}:6767/accounts/10000`],
      ['GET /file/forest.jpg at imageservice', `http://${ip('imageservice')}:7777/file/forest.jpg`],
    ] as const) {
      const result = await load({ url, connections: settings.connections, durationS: settings.durationS });
      progress(`containers: ${what}: ${describe(result)}`);
      loads.push({ what, result });
    }
    const loadSamples = underLoad.stop();
    const after = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, workingSetParts(pid)]));

    const services = Object.fromEntries(
      ours.map((r) => {
        const resources = pod(manifests, r.pod).spec.containers[0]!.resources!;
        return [
          r.pod,
          {
            requestBytes: quantity(resources.requests!.memory!),
            limitBytes: quantity(resources.limits!.memory!),
            idleBytes: median(idleSamples[r.pod]!),
            loadMedianBytes: median(loadSamples[r.pod]!),
            loadMaxBytes: Math.max(...loadSamples[r.pod]!),
            after: after[r.pod]!,
          },
        ];
      }),
    );
    for (const r of runs) await run.kubelet.stop(r.pod);
    return { settings, services, loads };
  } finally {
    await run.close();
  }
}

/**
 * Reads every file of each image once, through the engine, before any pod starts: the state of a
 * node that has just pulled them. A pull writes the files, so the kernel charges their page cache
 * to the container runtime, and the pods that run them later are not charged again. Left cold, the
 * pages of the Deno executable, one file shared by all four images, are charged to whichever
 * container touches each first: 0 to 19 MiB, on a different container from run to run.
 */
async function readAsPulled(tags: string[]): Promise<void> {
  for (const tag of tags) {
    const id = (await docker(['create', tag])).stdout.trim();
    try {
      // To standard output, thrown away: the client refuses a device as --output.
      const exported = spawn(DOCKER, ['export', id], { stdio: ['ignore', 'ignore', 'inherit'] });
      const [code] = (await once(exported, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`docker export ${tag} failed (${code})`);
    } finally {
      await docker(['rm', id]);
    }
  }
}
