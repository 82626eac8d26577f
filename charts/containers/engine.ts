/**
 * The container engine the check runs on: Docker, with BuildKit. On a Debian machine without
 * one, Debian's docker.io is installed and dockerd started (there may be no init system).
 *
 * Debian's client is preferred at /usr/bin/docker: a newer client earlier on PATH may lack the
 * buildx plugin and then fails with BuildKit enabled.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import process from 'node:process';
import { until } from '../../tools/wait.ts';

export const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker client; rejects with its stderr on a non-zero exit unless `check` is false. */
export function docker(
  args: string[],
  { input, check = true, timeoutMs = 600_000 }: { input?: string | Buffer; check?: boolean; timeoutMs?: number } = {},
): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      DOCKER,
      args,
      { env: { ...process.env, DOCKER_BUILDKIT: '1' }, maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        if (code !== 0 && check) reject(new Error(`docker ${args.slice(0, 3).join(' ')} failed (${code}): ${(stderr || stdout).trim().slice(-2000)}`));
        else resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

const engineUp = async () => (await docker(['info', '--format', '{{.ServerVersion}}'], { check: false, timeoutMs: 20_000 })).code === 0;

/**
 * Resolves once the engine answers: installs Debian's docker.io when no client exists (as root
 * on Debian), starts dockerd when it is not running (its log: /var/log/dockerd.log). Throws
 * saying what to do otherwise.
 */
export async function ensureEngine(log: (line: string) => void): Promise<void> {
  if (existsSync(DOCKER) || spawnSync('sh', ['-c', 'command -v docker'], { stdio: 'ignore' }).status === 0) {
    if (await engineUp()) return;
  } else {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
      throw new Error('no container engine: install Docker (on Debian: apt-get install docker.io) and start it');
    }
    log('installing Debian\'s docker.io ...');
    const apt = (args: string[]) =>
      spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (apt(['update', '-qq']).status !== 0 || apt(['install', '-y', '-qq', 'docker.io']).status !== 0) {
      throw new Error('apt-get install docker.io failed');
    }
    if (await engineUp()) return;
  }
  if (process.getuid?.() !== 0) throw new Error('the Docker engine is not running: start it (e.g. sudo systemctl start docker)');
  log('starting dockerd (log: /var/log/dockerd.log) ...');
  // Detached, like a system service: it outlives the check, as it would have been running.
  const out = openSync('/var/log/dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', out, out], env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).unref();
  await until(engineUp, 60_000, 'dockerd to answer', 500);
}
