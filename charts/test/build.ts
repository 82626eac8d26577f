/**
 * What skaffold.yaml builds, read without a container engine: its artifacts (image, context,
 * Dockerfile, build arguments) and the image each Dockerfile makes for its arguments — base
 * image, entrypoint, command, environment, user, working directory, ports and copies — as
 * Docker evaluates them (Dockerfile reference: ARG scope, stage inheritance, ENTRYPOINT
 * resetting an inherited CMD).
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './render.ts';

export interface Artifact {
  image: string;
  context: string;
  docker: { dockerfile: string; buildArgs?: Record<string, string>; target?: string };
  sync?: { manual?: { src: string; dest: string }[] };
}

export interface SkaffoldConfig {
  apiVersion: string;
  build: { artifacts: Artifact[] };
  deploy: {
    helm: {
      releases: {
        name: string;
        chartPath: string;
        skipBuildDependencies?: boolean;
        setValueTemplates: Record<string, string>;
        setValues: Record<string, string>;
      }[];
    };
  };
  portForward: { resourceType: string; resourceName: string; namespace?: string; port: number; localPort: number }[];
  profiles: { name: string; activation?: { command?: string; kubeContext?: string }[]; patches: { op: string; path: string; value?: unknown }[] }[];
}

/** skaffold.yaml as parsed (YAML anchors resolved). */
export function skaffoldConfig(): SkaffoldConfig {
  return parse(readFileSync(join(repoRoot, 'skaffold.yaml'), 'utf8')) as SkaffoldConfig;
}

/** The artifact that builds `image`. */
export function artifact(image: string, config = skaffoldConfig()): Artifact {
  const found = config.build.artifacts.find((a) => a.image === image);
  if (!found) throw new Error(`skaffold.yaml builds no image ${image}`);
  return found;
}

export interface Copy {
  /** The stage or image copied from; undefined: the build context. */
  from?: string;
  chown?: string;
  sources: string[];
  /** Absolute path in the image. */
  dest: string;
}

export interface Stage {
  name?: string;
  /** An earlier stage's name or an image reference. */
  from: string;
  /** The image at the root of this stage's FROM chain. */
  baseImage: string;
  entrypoint?: string[];
  cmd?: string[];
  env: Record<string, string>;
  user?: string;
  workdir: string;
  expose: string[];
  copies: Copy[];
  runs: string[];
}

/** The build stages of a Dockerfile with these build arguments; the last one is the image. */
export function evaluateDockerfile(text: string, buildArgs: Record<string, string> = {}): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let args: Record<string, string> = {};
  const expand = (value: string, scope: Record<string, string>) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => scope[(braced ?? bare)!] ?? '');
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const operand = line.slice(keyword.length).trim();
    const instruction = keyword.toUpperCase();
    const stage = stages.at(-1);
    if (instruction === 'ARG') {
      const [name = '', fallback] = operand.split('=', 2) as [string, string | undefined];
      const value = buildArgs[name] ?? (stage ? globalArgs[name] : undefined) ?? (fallback === undefined ? undefined : expand(fallback, stage ? { ...stage.env, ...args } : globalArgs));
      if (value !== undefined) (stage ? args : globalArgs)[name] = value;
      continue;
    }
    if (instruction === 'FROM') {
      const [reference = '', as, name] = expand(operand, globalArgs).split(/\s+/);
      const parent = stages.find((s) => s.name === reference);
      stages.push({
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        from: reference,
        baseImage: parent?.baseImage ?? reference,
        entrypoint: parent?.entrypoint,
        cmd: parent?.cmd,
        env: { ...parent?.env },
        user: parent?.user,
        workdir: parent?.workdir ?? '/',
        expose: [...(parent?.expose ?? [])],
        copies: [],
        runs: [],
      });
      args = {};
      continue;
    }
    if (!stage) throw new Error(`${keyword} before the first FROM`);
    const value = expand(operand, { ...stage.env, ...args });
    switch (instruction) {
      case 'ENV':
        for (const pair of value.match(/\S+=("[^"]*"|\S*)/g) ?? []) {
          const at = pair.indexOf('=');
          stage.env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"|"$/g, '');
        }
        break;
      case 'USER':
        stage.user = value;
        break;
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, value);
        break;
      case 'EXPOSE':
        stage.expose.push(...value.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = JSON.parse(operand) as string[];
        // Docker: an ENTRYPOINT set in a stage drops the CMD it inherited.
        stage.cmd = undefined;
        break;
      case 'CMD':
        stage.cmd = JSON.parse(operand) as string[];
        break;
      case 'RUN':
        stage.runs.push(value);
        break;
      case 'COPY': {
        const words = value.split(/\s+/);
        const flags = Object.fromEntries(words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=', 2) as [string, string]));
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = posix.resolve(stage.workdir, paths.at(-1)!);
        stage.copies.push({ from: flags.from, chown: flags.chown, sources: paths.slice(0, -1), dest });
        break;
      }
      default:
        throw new Error(`the Dockerfile reader does not know ${instruction}`);
    }
  }
  return stages;
}

/** The stages of the image skaffold.yaml builds as `image`: the Dockerfile with its build arguments. */
export function imageStages(image: string): Stage[] {
  const { context, docker } = artifact(image);
  return evaluateDockerfile(readFileSync(join(repoRoot, context, docker.dockerfile), 'utf8'), docker.buildArgs);
}
