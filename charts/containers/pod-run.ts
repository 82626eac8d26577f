/**
 * A rendered pod as `docker run` arguments, the way a kubelet would start it: the image,
 * command and args (Kubernetes semantics over the image's ENTRYPOINT and CMD, `$(VAR)`
 * expanded), env (values, Secret and ConfigMap keys, field and resource refs), the pod's and
 * container's security contexts, resource limits, volumes, and the names of the Services that
 * select the pod as network aliases (Docker's DNS then answers a Service name with exactly those
 * pods). What a kubelet would refuse to start is refused here with its reason; a field this
 * runner cannot honour is refused too, never skipped.
 *
 * Pure: nothing is started. kubelet.ts runs the result.
 */
import { mkdirSync, chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../test/render.ts';
import { backends, services, targetPort, type Container, type EnvVar, type Pod, type Probe } from '../test/topology.ts';

/** Why a kubelet (or this runner) would not start the pod, as `<Reason>: <message>`. */
export class PodError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}

/** Replacements for what cannot run here (an image that cannot be had, its command). */
export interface PodOverride {
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: Record<string, string>;
  /** Extra bind mounts, e.g. the repository for a program run from it. */
  mounts?: { source: string; target: string; readOnly?: boolean }[];
}

export interface RunContext {
  manifests: Manifest[];
  /** Docker network the pods share, and the address this pod gets on it. */
  network: string;
  podIp: string;
  /** Prefix of container names and the label value that marks this run's containers. */
  runId: string;
  /** Where emptyDir and other volumes of this run live on the host. */
  volumesDir: string;
  /** The image's own configuration, for runAsNonRoot (`docker image inspect`). */
  image: { user: string; entrypoint: string[] | null; cmd: string[] | null };
  override?: PodOverride;
}

export interface VolumeDir {
  path: string;
  mode: number;
  /** Its owner, root unless said: a volume another pod's user wrote, for the check. */
  uid?: number;
  gid?: number;
  files?: Record<string, string>;
}

/** A probe made concrete: where and how often, with Kubernetes' defaults filled in. */
export interface ResolvedProbe {
  action: { http: { port: number; path: string } } | { tcp: { port: number } } | { exec: string[] };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface PodRun {
  pod: string;
  container: string;
  ip: string;
  /** Arguments of `docker run`, the image and the command after the options. */
  args: string[];
  /** Host directories to create before the run. */
  volumeDirs: VolumeDir[];
  gracePeriodSeconds: number;
  aliases: string[];
  probes: { startup?: ResolvedProbe; readiness?: ResolvedProbe; liveness?: ResolvedProbe };
}

type SecurityContext = {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
  [field: string]: unknown;
};

type Volume = {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string };
  secret?: { secretName: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
};

type FullContainer = Container & {
  workingDir?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string }; prefix?: string }[];
};

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity as a number: "500m" → 0.5, "384Mi" → 402653184. */
export function quantity(value: string | number): number {
  const match = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value));
  if (!match) throw new PodError('InvalidQuantity', `cannot read the quantity ${JSON.stringify(value)}`);
  const number = Number(match[1]);
  return match[2] === 'm' ? number / 1000 : number * MEMORY_UNITS[match[2] ?? '']!;
}

/** `$(NAME)` replaced from `vars` when defined, `$$` kept as one `$` (the Kubernetes rules). */
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name?: string) => (name === undefined ? '$' : (vars[name] ?? whole)));
}

function readObject(manifests: Manifest[], kind: 'Secret' | 'ConfigMap', name: string): Record<string, string> {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name) as
    | (Manifest & { data?: Record<string, string>; stringData?: Record<string, string> })
    | undefined;
  if (!found) throw new PodError('CreateContainerConfigError', `${kind.toLowerCase()} "${name}" not found`);
  const decoded = Object.fromEntries(
    Object.entries(found.data ?? {}).map(([key, value]) => [key, kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value]),
  );
  return { ...decoded, ...found.stringData };
}

/** The container's environment as a kubelet resolves it: envFrom, then env in order, each `$(VAR)` expanded. */
export function resolveEnv(pod: Pod, container: FullContainer, ctx: Pick<RunContext, 'manifests' | 'podIp'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const values = source.secretRef ? readObject(ctx.manifests, 'Secret', source.secretRef.name) : readObject(ctx.manifests, 'ConfigMap', source.configMapRef!.name);
    for (const [key, value] of Object.entries(values)) env[`${source.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) env[variable.name] = envValue(pod, container, variable, env, ctx);
  return env;
}

function envValue(pod: Pod, container: FullContainer, variable: EnvVar, env: Record<string, string>, ctx: Pick<RunContext, 'manifests' | 'podIp'>): string {
  if (variable.value !== undefined) return expandVars(variable.value, env);
  const from = variable.valueFrom as EnvVar['valueFrom'] & {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: string };
    secretKeyRef?: { optional?: boolean };
    configMapKeyRef?: { optional?: boolean };
  };
  const keyRef = from?.secretKeyRef ? (['Secret', from.secretKeyRef] as const) : from?.configMapKeyRef ? (['ConfigMap', from.configMapKeyRef] as const) : undefined;
  if (keyRef) {
    const [kind, ref] = keyRef;
    const value = readObject(ctx.manifests, kind, ref.name)[ref.key];
    if (value === undefined && !ref.optional) {
      throw new PodError('CreateContainerConfigError', `couldn't find key ${ref.key} in ${kind} ${ref.name} (env ${variable.name})`);
    }
    return value ?? '';
  }
  if (from?.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath, ctx.podIp);
  if (from?.resourceFieldRef) {
    const [kind, resource] = from.resourceFieldRef.resource.split('.') as ['limits' | 'requests', string];
    const amount = container.resources?.[kind]?.[resource];
    if (amount === undefined) throw new PodError('CreateContainerConfigError', `${from.resourceFieldRef.resource} is not set (env ${variable.name})`);
    return String(Math.ceil(quantity(amount) / quantity(from.resourceFieldRef.divisor ?? '1')));
  }
  throw new PodError('CreateContainerConfigError', `env ${variable.name} has no value the runner can read`);
}

/** The downward API's fields (the ones a container's env may name). */
function fieldValue(pod: Pod, path: string, podIp: string): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.labels : ((pod.spec as { annotations?: Record<string, string> }).annotations ?? {});
    return map[labelOrAnnotation[2]!] ?? '';
  }
  const fields: Record<string, string> = {
    'metadata.name': pod.name,
    'metadata.namespace': pod.namespace,
    'spec.nodeName': 'container-check',
    'spec.serviceAccountName': String(pod.spec.serviceAccountName ?? 'default'),
    'status.podIP': podIp,
    'status.podIPs': podIp,
  };
  if (!(path in fields)) throw new PodError('CreateContainerConfigError', `fieldRef ${path} is not supported here`);
  return fields[path]!;
}

/** The Services whose selectors pick this pod: the names its address answers to. */
export function serviceAliases(manifests: Manifest[], pod: Pod): string[] {
  return services(manifests)
    .filter((service) => backends(manifests, service).some((p) => p.owner === pod.owner))
    .map((service) => {
      for (const port of service.spec.ports) {
        // A name resolves to the pod's own address: the Service's port must be the pod's.
        if (targetPort(port, pod) !== port.port) {
          throw new PodError('UnsupportedService', `Service ${service.metadata.name} maps port ${port.port} to ${String(port.targetPort)} on ${pod.owner}; the runner needs them equal`);
        }
      }
      return service.metadata.name;
    });
}

/** Services that select no pod: their names would resolve to nothing. */
export function servicesWithoutPods(manifests: Manifest[]): string[] {
  return services(manifests)
    .filter((service) => backends(manifests, service).length === 0)
    .map((service) => service.metadata.name);
}

function resolveProbe(probe: Probe | undefined, container: FullContainer): ResolvedProbe | undefined {
  if (!probe) return undefined;
  const full = probe as Probe & Partial<Omit<ResolvedProbe, 'action'>>;
  const port = (value: number | string) => {
    if (typeof value === 'number') return value;
    const found = container.ports?.find((p) => p.name === value)?.containerPort;
    if (found === undefined) throw new PodError('InvalidProbe', `${container.name} has no port named ${value}`);
    return found;
  };
  const action = probe.httpGet
    ? { http: { port: port(probe.httpGet.port), path: probe.httpGet.path ?? '/' } }
    : probe.tcpSocket
      ? { tcp: { port: port(probe.tcpSocket.port) } }
      : probe.exec
        ? { exec: probe.exec.command }
        : undefined;
  if (!action) throw new PodError('InvalidProbe', `${container.name}: a probe of a kind the runner does not know`);
  return {
    action,
    initialDelaySeconds: full.initialDelaySeconds ?? 0,
    periodSeconds: full.periodSeconds ?? 10,
    timeoutSeconds: full.timeoutSeconds ?? 1,
    successThreshold: full.successThreshold ?? 1,
    failureThreshold: full.failureThreshold ?? 3,
  };
}

/** The user the container runs as, checked as the kubelet checks runAsNonRoot. */
function user(context: SecurityContext, imageUser: string, container: string): string | undefined {
  const uid = context.runAsUser;
  const gid = context.runAsGroup;
  if (context.runAsNonRoot) {
    if (uid === 0) throw new PodError('CreateContainerConfigError', `container ${container}'s runAsUser breaks non-root policy`);
    if (uid === undefined) {
      const imageUid = imageUser.split(':')[0] ?? '';
      if (!/^\d+$/.test(imageUid)) {
        throw new PodError('CreateContainerConfigError', `container ${container} has runAsNonRoot and image has non-numeric user (${imageUser || 'root'}), cannot verify user is non-root`);
      }
      if (Number(imageUid) === 0) throw new PodError('CreateContainerConfigError', `container ${container} has runAsNonRoot and image will run as root`);
    }
  }
  if (uid === undefined) return gid === undefined ? undefined : `${imageUser.split(':')[0] || '0'}:${gid}`;
  return gid === undefined ? String(uid) : `${uid}:${gid}`;
}

const SECURITY_FIELDS = new Set(['runAsUser', 'runAsGroup', 'runAsNonRoot', 'fsGroup', 'supplementalGroups', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation', 'privileged', 'capabilities', 'seccompProfile']);

/** `docker run` for the pod's one container. */
export function podRun(pod: Pod, ctx: RunContext): PodRun {
  if (pod.spec.containers.length !== 1) throw new PodError('Unsupported', `${pod.owner} has ${pod.spec.containers.length} containers; the runner runs one`);
  if (pod.spec.enableServiceLinks !== false) throw new PodError('Unsupported', `${pod.owner}: enableServiceLinks is not false; the runner injects no Service variables`);
  for (const field of ['initContainers', 'hostNetwork', 'hostPID', 'hostIPC', 'hostAliases']) {
    if (pod.spec[field]) throw new PodError('Unsupported', `${pod.owner}: ${field} is not supported by the runner`);
  }
  const container = pod.spec.containers[0] as FullContainer;
  const podContext = (pod.spec.securityContext ?? {}) as SecurityContext;
  const context: SecurityContext = { ...podContext, ...container.securityContext };
  for (const field of Object.keys(context)) {
    if (!SECURITY_FIELDS.has(field)) throw new PodError('Unsupported', `${pod.owner}: securityContext.${field} is not supported by the runner`);
  }
  const name = `${ctx.runId}-${pod.name}`;
  const override = ctx.override ?? {};
  const env = { ...resolveEnv(pod, container, ctx), ...override.env };
  const args = ['--name', name, '--hostname', pod.name, '--label', `landscape.check=${ctx.runId}`];
  args.push('--network', ctx.network, '--ip', ctx.podIp);
  const aliases = serviceAliases(ctx.manifests, pod);
  for (const alias of aliases) args.push('--network-alias', alias);

  const runAs = user(context, ctx.image.user, container.name);
  if (runAs) args.push('--user', runAs);
  for (const gid of [podContext.fsGroup, ...(podContext.supplementalGroups ?? [])]) if (gid !== undefined) args.push('--group-add', String(gid));
  if (context.readOnlyRootFilesystem) args.push('--read-only');
  if (context.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  if (context.privileged) args.push('--privileged');
  for (const capability of context.capabilities?.drop ?? []) args.push('--cap-drop', capability);
  for (const capability of context.capabilities?.add ?? []) args.push('--cap-add', capability);
  const seccomp = context.seccompProfile?.type;
  if (seccomp === 'Unconfined') args.push('--security-opt', 'seccomp=unconfined');
  else if (seccomp !== undefined && seccomp !== 'RuntimeDefault') throw new PodError('Unsupported', `${pod.owner}: seccompProfile ${seccomp}`);

  // What the kubelet enforces: the CPU quota, CPU shares from the request, the memory limit (no swap).
  const { limits = {}, requests = {} } = container.resources ?? {};
  if (limits.cpu) args.push('--cpus', String(quantity(limits.cpu)));
  const cpuRequest = requests.cpu ?? limits.cpu;
  if (cpuRequest) args.push('--cpu-shares', String(Math.max(2, Math.floor(quantity(cpuRequest) * 1024))));
  if (limits.memory) args.push('--memory', String(quantity(limits.memory)), '--memory-swap', String(quantity(limits.memory)));

  const volumeDirs: VolumeDir[] = [];
  const volumes = (pod.spec.volumes ?? []) as Volume[];
  for (const mount of container.volumeMounts ?? []) {
    if (mount.subPath) throw new PodError('Unsupported', `${pod.owner}: volumeMount subPath`);
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume) throw new PodError('CreateContainerConfigError', `volumeMount ${mount.name} names no volume of ${pod.owner}`);
    const readOnly = mount.readOnly ? ',readonly' : '';
    if (volume.emptyDir?.medium === 'Memory') {
      args.push('--tmpfs', `${mount.mountPath}:rw,mode=1777${volume.emptyDir.sizeLimit ? `,size=${quantity(volume.emptyDir.sizeLimit)}` : ''}`);
      continue;
    }
    // Each pod its own directories (a new pod, a new emptyDir), named by its address.
    const dir: VolumeDir = { path: join(ctx.volumesDir, `${pod.name}-${ctx.podIp}`, volume.name), mode: 0o777 };
    if (volume.emptyDir) {
      // The kubelet's emptyDir: world-writable, and owned by the fsGroup with setgid when there is one.
      if (podContext.fsGroup !== undefined) Object.assign(dir, { gid: podContext.fsGroup, mode: 0o2777 });
    } else if (volume.persistentVolumeClaim) {
      // A claim outlives its pods: one directory per claim for the run.
      dir.path = join(ctx.volumesDir, 'claims', volume.persistentVolumeClaim.claimName);
      if (podContext.fsGroup !== undefined) Object.assign(dir, { gid: podContext.fsGroup, mode: 0o2777 });
    } else if (volume.secret || volume.configMap) {
      const files = volume.secret ? readObject(ctx.manifests, 'Secret', volume.secret.secretName) : readObject(ctx.manifests, 'ConfigMap', volume.configMap!.name);
      Object.assign(dir, { mode: 0o755, files });
    } else {
      throw new PodError('Unsupported', `${pod.owner}: volume ${volume.name} is of a kind the runner does not know`);
    }
    volumeDirs.push(dir);
    args.push('--mount', `type=bind,source=${dir.path},target=${mount.mountPath}${volume.secret || volume.configMap ? ',readonly' : readOnly}`);
  }
  for (const mount of override.mounts ?? []) {
    args.push('--mount', `type=bind,source=${mount.source},target=${mount.target}${mount.readOnly ? ',readonly' : ''}`);
  }
  const workingDir = override.workingDir ?? container.workingDir;
  if (workingDir) args.push('--workdir', workingDir);
  for (const [key, value] of Object.entries(env)) args.push('--env', `${key}=${value}`);

  // Kubernetes: command replaces the image's ENTRYPOINT (and drops its CMD), args replace CMD.
  const command = (override.command ?? container.command)?.map((part) => expandVars(part, env));
  const commandArgs = (override.args ?? container.args)?.map((part) => expandVars(part, env));
  if (command) args.push('--entrypoint', command[0]!);
  args.push(override.image ?? container.image);
  if (command) args.push(...command.slice(1), ...(commandArgs ?? []));
  else if (commandArgs) args.push(...commandArgs);

  const gracePeriod = (pod.spec.terminationGracePeriodSeconds as number | undefined) ?? 30;
  return {
    pod: pod.name,
    container: name,
    ip: ctx.podIp,
    args,
    volumeDirs,
    gracePeriodSeconds: gracePeriod,
    aliases,
    probes: {
      startup: resolveProbe(container.startupProbe, container),
      readiness: resolveProbe(container.readinessProbe, container),
      liveness: resolveProbe(container.livenessProbe, container),
    },
  };
}

/** Creates the run's volume directories on the host (the kubelet's part before starting a container). */
export function makeVolumeDirs(dirs: VolumeDir[]): void {
  for (const dir of dirs) {
    mkdirSync(dir.path, { recursive: true });
    if (dir.uid !== undefined || dir.gid !== undefined) chownSync(dir.path, dir.uid ?? 0, dir.gid ?? 0);
    chmodSync(dir.path, dir.mode);
    for (const [file, content] of Object.entries(dir.files ?? {})) writeFileSync(join(dir.path, file), content, { mode: 0o644 });
  }
}
