/**
 * The service images, checked without a Docker engine: the one Dockerfile, evaluated with each
 * image's build arguments from skaffold.yaml, builds from the pinned Deno the tests use and runs
 * non-root the same services/<name>/main.ts the tests start, with the port and user the chart
 * expects and write access exactly where the chart mounts a volume; .dockerignore keeps what the
 * build copies; and the image's exact `deno run` permissions start each service here, answering
 * the chart's readiness probe. (`npm run test:containers` builds and runs the images for real.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import process from 'node:process';
import { after, describe, test } from 'node:test';
import { imageStages, type Stage } from './build.ts';
import { OUR_SERVICES, render, repoRoot } from './render.ts';
import { environment, pod } from './topology.ts';
import { testAmqpUrl } from '../../tools/rabbitmq-node.ts';
import { deleteQueue } from '../../tools/rabbitmq.ts';
import { freePort, until } from '../../tools/wait.ts';

const manifests = render({});

const lockedDeno = (JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
}).packages['node_modules/deno']!.version;

/** The image's command: ENTRYPOINT then CMD, after tini (the base image's init). */
function command(image: Stage): string[] {
  const full = [...(image.entrypoint ?? []), ...(image.cmd ?? [])];
  return full[0] === '/tini' && full[1] === '--' ? full.slice(2) : full;
}

for (const service of OUR_SERVICES) {
  describe(`the ${service} image`, () => {
    const stages = imageStages(service);
    const image = stages.at(-1)!;
    const container = pod(manifests, service).spec.containers[0]!;
    const podContext = pod(manifests, service).spec.securityContext ?? {};

    test(`runs on the official Deno image the tests use (${lockedDeno}), under its init`, () => {
      assert.equal(image.baseImage, `denoland/deno:debian-${lockedDeno}`);
      assert.deepEqual(image.entrypoint?.slice(0, 2), ['/tini', '--'], 'tini passes the stop signal on');
    });

    test('installs production dependencies only, in a build stage', () => {
      const install = stages.slice(0, -1).flatMap((s) => s.runs).find((run) => run.startsWith('npm ci'));
      assert.match(install ?? '', /--omit=dev/);
      assert.ok(stages.flatMap((s) => s.copies).some((c) => c.from === 'deps' && c.dest === '/app/node_modules'));
    });

    test('starts the same services/<name>/main.ts the tests start, with deno run, and only its own sources', () => {
      const [deno, run, ...args] = command(image);
      assert.deepEqual([deno, run], ['deno', 'run']);
      assert.equal(posix.resolve(image.workdir, args.at(-1)!), `/app/services/${service}/main.ts`);
      assert.ok(existsSync(join(repoRoot, 'services', service, 'main.ts')));
      assert.ok(!args.some((arg) => arg === '-A' || arg === '--allow-all'), 'permissions are spelt out');
      const services = stages.flatMap((s) => s.copies).filter((c) => !c.from && c.sources.some((source) => source.startsWith('services')));
      assert.deepEqual(services.map((c) => c.sources), [[`services/${service}`]]);
    });

    test("runs as the chart's non-root user and listens on the chart's port, on every interface", () => {
      assert.match(image.user ?? '', /^[1-9]\d*(:\d+)?$/, 'a numeric user, so runAsNonRoot can check it');
      assert.equal(Number(image.user!.split(':')[0]), podContext.runAsUser);
      const port = environment(manifests, container).PORT;
      assert.deepEqual(image.expose, [port]);
      assert.equal(image.env.PORT, port);
      assert.equal(image.env.HOST, '::', 'reachable by the probes and Services in either address family, not only on loopback');
    });

    test('writes and loads a native addon only where the chart mounts its data volume', () => {
      const flags = command(image).filter((flag) => flag.startsWith('--allow-write') || flag.startsWith('--allow-ffi'));
      const hasData = (container as { volumeMounts?: { mountPath: string }[] }).volumeMounts?.some((m) => m.mountPath === '/data');
      assert.deepEqual(flags, hasData ? ['--allow-write=/data', '--allow-ffi=/app/node_modules'] : []);
      assert.equal(image.env.DATA_DIR, hasData ? '/data' : undefined);
      assert.equal(environment(manifests, container).DATA_DIR, hasData ? '/data' : undefined);
    });
  });
}

/** Docker's .dockerignore matching: the last pattern that matches a path or a parent wins. */
function dockerignored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/|\/$/g, '');
    const source = pattern
      .split('/')
      .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
      .join('/')
      .replace(/\.\*\//g, '(.*/)?');
    const regex = new RegExp(`^${source}(/.*)?$`);
    if (regex.test(path)) ignored = !negated;
  }
  return ignored;
}

test('.dockerignore sends what the images copy and keeps out tests and local state', () => {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  for (const path of ['package.json', 'package-lock.json', 'deno.json', 'lib/service.ts', 'lib/tracing/tracer.ts', 'services/imageservice/samples/forest.jpg', 'services/vipservice/main.ts']) {
    assert.equal(dockerignored(path, patterns), false, `${path} is sent`);
  }
  for (const path of ['node_modules/hono/package.json', 'lib/config.test.ts', 'lib/messaging.testing.ts', 'services/imageservice/test-jpegs.ts', 'e2e/trace.test.ts', '.git/HEAD', 'charts/landscape/Chart.yaml', '.data/accountservice/data.mdb', 'Dockerfile']) {
    assert.equal(dockerignored(path, patterns), true, `${path} stays out`);
  }
});

/** DENO_V8_FLAGS as the chart sets it for a service, if it does. */
function v8Flags(service: string): { DENO_V8_FLAGS?: string } {
  const flags = environment(manifests, pod(manifests, service).spec.containers[0]!).DENO_V8_FLAGS;
  return flags ? { DENO_V8_FLAGS: flags } : {};
}

describe("the image's deno run permissions (and the chart's V8 flags) are enough for each service", () => {
  const deno = join(repoRoot, 'node_modules', '.bin', 'deno');
  const amqpUrl = testAmqpUrl();
  // A queue of its own: never one a running landscape consumes from.
  const vipQueue = `vip_queue.images-test-${randomUUID().slice(0, 8)}`;
  // The pod's volumes: /data and an empty DENO_DIR.
  const volumes = mkdtempSync(join(tmpdir(), 'landscape-volumes-'));
  after(async () => {
    rmSync(volumes, { recursive: true, force: true });
    await deleteQueue(amqpUrl, vipQueue).catch(() => {});
  });
  /** A path in the image mapped to here: /app is the repository, /data a directory of this test. */
  const local = (path: string, dataDir: string) =>
    path.replace(/(?<=^|[=,])\/(app|data)(?=[/,]|$)/g, (_, dir: string) => (dir === 'app' ? repoRoot : dataDir));

  for (const service of OUR_SERVICES) {
    test(service, { skip: !existsSync(deno) && 'deno is not installed (npm ci)', timeout: 30_000 }, async () => {
      const image = imageStages(service).at(-1)!;
      const dataDir = mkdtempSync(join(volumes, `${service}-data-`));
      const [, ...args] = command(image).map((arg) => local(arg, dataDir));
      const port = await freePort();
      const child = spawn(deno, args, {
        cwd: local(image.workdir, dataDir),
        env: {
          ...process.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          DATA_DIR: dataDir,
          DENO_DIR: mkdtempSync(join(volumes, 'deno-dir-')),
          AMQP_URL: amqpUrl,
          VIP_QUEUE: vipQueue,
          ZIPKIN_URL: 'http://127.0.0.1:9',
          NO_COLOR: '1',
          // The chart's V8 flags, so a flag Deno refuses fails here rather than in the pod.
          ...v8Flags(service),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        const probe = pod(manifests, service).spec.containers[0]!.readinessProbe!.httpGet!.path!;
        let status = 0;
        await until(
          async () => {
            status = await fetch(`http://127.0.0.1:${port}${probe}`).then((r) => r.status, () => 0);
            return status !== 0 || child.exitCode !== null;
          },
          20_000,
          `${service} answering ${probe}`,
          100,
        );
        // 503 is a service that runs but misses its broker here; a permission error never answers.
        assert.ok(status === 200 || status === 503, `GET ${probe} answered ${status}:\n${output}`);
        if (service === 'quotes-service' || service === 'imageservice') assert.equal(status, 200, output);
        assert.doesNotMatch(output, /NotCapable|Requires \w+ access/);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    });
  }
});
