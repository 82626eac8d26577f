/**
 * The rendered chart run on Docker: the images built from the project's Dockerfile with
 * skaffold.yaml's contexts and build arguments, the chart rendered with them, each pod started
 * by pod-run.ts and kubelet.ts on a network of the run's own, and the edge (nginx, from the
 * Ingress) in front. What cannot run here stands in, said in one place (STAND_INS below):
 * Zipkin's pod runs the local collector (tools/collector) under the pod's own settings, the
 * edge's OpenTelemetry Collector is not run (nginx reports no spans), and the `helm test` Pod
 * is not run (the check does what it does, and more).
 *
 * Used by `npm run test:containers` (check.ts) and `npm run bench` (its container section).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifact, imageStages, skaffoldConfig } from '../test/build.ts';
import { find, render, repoRoot, type Manifest, type Values } from '../test/render.ts';
import { pods, type Pod } from '../test/topology.ts';
import { nginxConfig } from './edge.ts';
import { docker } from './engine.ts';
import { Kubelet } from './kubelet.ts';
import { podRun, servicesWithoutPods, type PodOverride, type PodRun } from './pod-run.ts';
import { build, ensureImage, makeDebian, makeDeno, makeNode, makeRabbitMQ, type ImageSource } from './stand-ins.ts';

const DEBIAN = 'debian:trixie-slim';
/** The host name the edge serves in the check; the chart derives PUBLIC_URL from it. */
export const EDGE_HOST = 'landscape.localhost';

/** Pods not run here, and why. */
export const NOT_RUN: Record<string, string> = {
  'otel-collector': "the edge's OTLP bridge: the nginx edge reports no spans",
  'landscape-test': 'the `helm test` Pod: the check itself requests an account and reads its trace',
};

/** How a reference of a base image is made when it cannot be pulled. */
function standInMaker(reference: string): () => Promise<void> {
  const debian = /^debian:(\w+)-slim$/.exec(reference);
  if (debian) return makeDebian(debian[1]!);
  const deno = /^denoland\/deno:debian-(.+)$/.exec(reference);
  if (deno) return makeDeno(deno[1]!, DEBIAN);
  if (reference.startsWith('node:')) return makeNode(reference, DEBIAN);
  if (reference.startsWith('rabbitmq:')) return makeRabbitMQ(reference, DEBIAN);
  throw new Error(`no stand-in for ${reference}`);
}

export interface BuiltImage {
  image: string;
  tag: string;
  seconds: number;
}

export class ContainerRun {
  readonly runId = `landscape-check-${randomUUID().slice(0, 8)}`;
  readonly kubelet: Kubelet;
  readonly volumesDir = mkdtempSync(join(tmpdir(), 'landscape-check-'));
  readonly images: BuiltImage[] = [];
  baseImages: ImageSource[] = [];
  #subnet?: { prefix: string; next: number };
  #nodeImage = '';

  constructor(private readonly log: (line: string) => void) {
    this.kubelet = new Kubelet(log);
  }

  /** The base images the Dockerfile and the chart need: present, pulled, or stand-ins. */
  async ensureBaseImages(): Promise<ImageSource[]> {
    const first = skaffoldConfig().build.artifacts[0]!.image;
    const stages = imageStages(first);
    const names = new Set(stages.map((s) => s.name));
    const fromDockerfile = [...new Set(stages.map((s) => s.from).filter((from) => !names.has(from)))];
    this.#nodeImage = fromDockerfile.find((reference) => reference.startsWith('node:')) ?? '';
    const rabbitmq = (pods(render({})).find((p) => p.name === 'rabbitmq')?.spec.containers[0]?.image)!;
    const references = [DEBIAN, ...fromDockerfile, rabbitmq];
    this.baseImages = [];
    for (const reference of references) this.baseImages.push(await ensureImage(reference, standInMaker(reference), { log: this.log }));
    return this.baseImages;
  }

  /** Builds every skaffold.yaml artifact (at once; BuildKit shares their common stages), tagged for this run. */
  async buildImages(): Promise<BuiltImage[]> {
    const built = await Promise.all(
      skaffoldConfig().build.artifacts.map(async ({ image }) => {
        const { context, docker: spec } = artifact(image);
        const tag = `landscape-check/${image}:${this.runId}`;
        const started = performance.now();
        await docker([
          'build', '--quiet', '--tag', tag, '--file', join(repoRoot, context, spec.dockerfile),
          ...Object.entries(spec.buildArgs ?? {}).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]),
          ...(spec.target ? ['--target', spec.target] : []),
          join(repoRoot, context),
        ]);
        return { image, tag, seconds: (performance.now() - started) / 1000 };
      }),
    );
    this.images.push(...built);
    return built;
  }

  /** The chart rendered with this run's images, the edge's host, and `values` on top. */
  render(values: Values = {}): Manifest[] {
    const services = Object.fromEntries(
      this.images.map(({ image, tag }) => {
        const [repository, version] = tag.split(':') as [string, string];
        return [image, { image: { repository, tag: version, pullPolicy: 'Never' } }];
      }),
    );
    return render(merge({ services, edge: { host: EDGE_HOST } }, values));
  }

  async #network(): Promise<{ prefix: string; next: number }> {
    if (this.#subnet) return this.#subnet;
    // A subnet of its own, so that each pod's address is known before it starts (status.podIP):
    // a free /24 in 10.240.0.0/16, pods from .10 up.
    for (let attempt = 0; attempt < 30 && !this.#subnet; attempt++) {
      const prefix = `10.240.${Math.floor(Math.random() * 256)}`;
      const created = await docker(['network', 'create', '--label', `landscape.check=${this.runId}`, '--subnet', `${prefix}.0/24`, this.runId], { check: false });
      if (created.code === 0) this.#subnet = { prefix, next: 10 };
      else if (!/overlap/i.test(created.stderr)) throw new Error(`docker network create: ${created.stderr.trim()}`);
    }
    if (!this.#subnet) throw new Error('no free /24 in 10.240.0.0/16 for the check\'s network');
    return this.#subnet;
  }

  /** What stands in for a pod that cannot run as rendered here. */
  #override(pod: Pod): PodOverride | undefined {
    if (pod.labels['app.kubernetes.io/name'] !== 'zipkin') return undefined;
    return {
      image: this.#nodeImage,
      command: ['node', '--import', 'tsx', 'tools/collector/main.ts'],
      workingDir: '/app',
      env: { HOST: '0.0.0.0', PORT: '9411' },
      // Each entry of the checkout, not the checkout itself: its own directory may be private to its
      // owner (`mktemp -d` makes it 0700), which the pod's non-root user could not enter.
      mounts: readdirSync(repoRoot)
        .filter((name) => name !== '.git')
        .map((name) => ({ source: join(repoRoot, name), target: `/app/${name}`, readOnly: true })),
    };
  }

  /** Plans the pods named (all the release's but NOT_RUN when none are): refuses what a kubelet would. */
  async plan(manifests: Manifest[], names?: string[]): Promise<PodRun[]> {
    const unselected = servicesWithoutPods(manifests);
    if (unselected.length > 0) throw new Error(`Services that select no pod, whose names would resolve to nothing: ${unselected.join(', ')}`);
    const chosen = pods(manifests).filter((p) => (names ? names.includes(p.name) : !(p.labels['app.kubernetes.io/name']! in NOT_RUN)));
    const network = await this.#network();
    return Promise.all(
      chosen.map(async (pod) => {
        const override = this.#override(pod);
        const image = override?.image ?? pod.spec.containers[0]!.image;
        const inspected = await docker(['image', 'inspect', '--format', '{{json .Config}}', image]);
        const config = JSON.parse(inspected.stdout) as { User: string; Entrypoint: string[] | null; Cmd: string[] | null };
        return podRun(pod, {
          manifests,
          network: this.runId,
          podIp: `${network.prefix}.${network.next++}`,
          runId: this.runId,
          volumesDir: this.volumesDir,
          image: { user: config.User, entrypoint: config.Entrypoint, cmd: config.Cmd },
          override,
        });
      }),
    );
  }

  /** Starts the planned pods at once, as a cluster would, and waits until all are ready. */
  async startPods(runs: PodRun[], readyTimeoutMs = 180_000): Promise<void> {
    await Promise.all(runs.map((run) => this.kubelet.start(run)));
    await this.kubelet.waitReady(runs.map((run) => run.pod), readyTimeoutMs);
  }

  /** The edge for the rendered Ingress; resolves to its address on the run's network. */
  async startEdge(manifests: Manifest[]): Promise<{ ip: string; host: string; caCert: string }> {
    const { config, tlsSecret, host } = nginxConfig(manifests);
    const secret = find(manifests, 'Secret', tlsSecret) as Manifest & { data: Record<string, string> };
    const dir = join(this.volumesDir, 'edge');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nginx.conf'), config);
    const caCert = join(dir, 'tls.crt');
    writeFileSync(caCert, Buffer.from(secret.data['tls.crt']!, 'base64'));
    writeFileSync(join(dir, 'tls.key'), Buffer.from(secret.data['tls.key']!, 'base64'), { mode: 0o600 });
    await build(join(repoRoot, 'charts', 'containers'), 'edge.Dockerfile', 'landscape-check/edge:nginx', { BASE: DEBIAN }, join(repoRoot, 'charts', 'containers'));
    const network = await this.#network();
    const ip = `${network.prefix}.${network.next++}`;
    const container = `${this.runId}-edge`;
    await docker([
      'run', '--detach', '--name', container, '--label', `landscape.check=${this.runId}`,
      '--network', this.runId, '--ip', ip, '--mount', `type=bind,source=${dir},target=/etc/nginx/edge,readonly`,
      'landscape-check/edge:nginx',
    ]);
    return { ip, host: host ?? EDGE_HOST, caCert };
  }

  /** Removes everything this run made: containers, the network, volumes, the images' tags. */
  async close(): Promise<void> {
    this.kubelet.close();
    const { stdout } = await docker(['ps', '--all', '--quiet', '--filter', `label=landscape.check=${this.runId}`], { check: false });
    const containers = stdout.split('\n').filter(Boolean);
    if (containers.length > 0) await docker(['rm', '--force', '--volumes', ...containers], { check: false });
    await docker(['network', 'rm', this.runId], { check: false });
    if (this.images.length > 0) await docker(['image', 'rm', ...this.images.map((i) => i.tag)], { check: false });
    rmSync(this.volumesDir, { recursive: true, force: true });
  }
}

/** `overlay` merged into `base`, objects recursively (values as `-f` files combine). */
export function merge(base: Values, overlay: Values): Values {
  const result: Values = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = result[key];
    result[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? merge(current as Values, value as Values)
        : value;
  }
  return result;
}
