/**
 * The service images, checked without a Docker engine: each Dockerfile builds from the pinned
 * Deno the tests use, runs non-root the same services/<name>/main.ts the tests start, with the
 * port and user the chart expects; .dockerignore keeps what the build copies; and the image's
 * exact `deno run` permissions start each service here, answering the chart's readiness probe.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { after, describe, test } from 'node:test';
import { OUR_SERVICES, render, repoRoot } from './render.ts';
import { environment, pod } from './topology.ts';
import { freePort, sleep } from '../../tools/wait.ts';

const manifests = render({});

interface Dockerfile {
  stages: { from: string; lines: string[] }[];
  instruction(name: string): string[];
  /** The JSON (exec) form of ENTRYPOINT or CMD. */
  exec(name: 'ENTRYPOINT' | 'CMD'): string[];
}

function readDockerfile(service: string): Dockerfile {
  const text = readFileSync(join(repoRoot, 'services', service, 'Dockerfile'), 'utf8');
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: Dockerfile['stages'] = [];
  for (const line of lines) {
    if (/^FROM /i.test(line)) stages.push({ from: line.split(/\s+/)[1]!, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  const final = stages.at(-1)!;
  const instruction = (name: string) =>
    final.lines.filter((line) => line.toUpperCase().startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
  const exec = (name: 'ENTRYPOINT' | 'CMD') => JSON.parse(instruction(name).at(-1) ?? 'null') as string[];
  return { stages, instruction, exec };
}

const lockedDeno = (JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
}).packages['node_modules/deno']!.version;

for (const service of OUR_SERVICES) {
  describe(`services/${service}/Dockerfile`, () => {
    const dockerfile = readDockerfile(service);
    const container = pod(manifests, service).spec.containers[0]!;
    const podContext = pod(manifests, service).spec.securityContext ?? {};

    test(`runs on the official Deno image the tests use (${lockedDeno})`, () => {
      assert.equal(dockerfile.stages.at(-1)!.from, `denoland/deno:debian-${lockedDeno}`);
    });

    test('installs production dependencies only, in a build stage', () => {
      const install = dockerfile.stages.slice(0, -1).flatMap((s) => s.lines).find((line) => line.startsWith('RUN npm ci'));
      assert.match(install ?? '', /--omit=dev/);
      assert.ok(dockerfile.instruction('COPY').some((line) => line.startsWith('--from=') && line.includes('node_modules')));
    });

    test('starts the same services/<name>/main.ts the tests start, with deno run', () => {
      const command = [...dockerfile.exec('ENTRYPOINT'), ...dockerfile.exec('CMD')];
      assert.deepEqual(command.slice(0, 2), ['deno', 'run']);
      assert.deepEqual(dockerfile.exec('CMD'), [`services/${service}/main.ts`]);
      assert.ok(existsSync(join(repoRoot, 'services', service, 'main.ts')));
      assert.ok(!command.some((arg) => arg === '-A' || arg === '--allow-all'), 'permissions are spelt out');
    });

    test("runs as the chart's non-root user and listens on the chart's port", () => {
      const user = dockerfile.instruction('USER').at(-1)!;
      assert.match(user, /^[1-9]\d*(:\d+)?$/, 'a numeric user, so runAsNonRoot can check it');
      assert.equal(Number(user.split(':')[0]), podContext.runAsUser);
      const port = environment(manifests, container).PORT;
      assert.ok(dockerfile.instruction('EXPOSE').includes(port!), `EXPOSE ${port}`);
      assert.ok(dockerfile.instruction('ENV').some((line) => line.split(/\s+/).includes(`PORT=${port}`)));
    });

    test('only the services with an LMDB directory (accountservice, vipservice) may write it and load a native addon', () => {
      const flags = dockerfile.exec('ENTRYPOINT');
      const writes = flags.filter((flag) => flag.startsWith('--allow-write') || flag.startsWith('--allow-ffi'));
      const lmdb = service === 'accountservice' || service === 'vipservice';
      assert.deepEqual(writes, lmdb ? ['--allow-write=/data', '--allow-ffi=/app/node_modules'] : []);
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
  for (const path of ['node_modules/hono/package.json', 'lib/config.test.ts', 'e2e/trace.test.ts', '.git/HEAD', 'charts/landscape/Chart.yaml', '.data/accountservice/data.mdb', 'services/accountservice/Dockerfile']) {
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
  // The pod's volumes: /data and an empty DENO_DIR.
  const volumes = mkdtempSync(join(tmpdir(), 'landscape-volumes-'));
  const dataDir = join(volumes, 'data');
  after(() => rmSync(volumes, { recursive: true, force: true }));
  /** A permission flag with the image's paths mapped to here: /app is the repository. */
  const local = (flag: string) =>
    flag.replace(/(?<=[=,])\/(app|data)(?=[/,]|$)/g, (_, dir: string) => (dir === 'app' ? repoRoot : dataDir));

  for (const service of OUR_SERVICES) {
    test(service, { skip: !existsSync(deno) && 'deno is not installed (npm ci)', timeout: 30_000 }, async () => {
      const dockerfile = readDockerfile(service);
      const args = [...dockerfile.exec('ENTRYPOINT').slice(1).map(local), ...dockerfile.exec('CMD')];
      const port = await freePort();
      const denoDir = mkdtempSync(join(volumes, 'deno-dir-'));
      const child = spawn(deno, args, {
        cwd: repoRoot,
        env: {
          ...process.env,
          PORT: String(port),
          DATA_DIR: dataDir,
          DENO_DIR: denoDir,
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
        for (let attempt = 0; attempt < 100 && child.exitCode === null; attempt++) {
          status = await fetch(`http://127.0.0.1:${port}${probe}`).then((r) => r.status, () => 0);
          if (status !== 0) break;
          await sleep(100);
        }
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
