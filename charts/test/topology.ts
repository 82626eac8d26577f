/**
 * The rendered release as a running cluster would see it: pods (from Deployments, StatefulSets
 * and bare Pods), the Services in front of them, and where a URL in a pod's environment lands.
 */
import type { Endpoint } from './netpol.ts';
import { NAMESPACE, type Manifest } from './render.ts';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Probe {
  httpGet?: { path?: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: Record<string, unknown>[];
  [field: string]: unknown;
}

export interface Pod extends Endpoint {
  /** The workload that makes this pod, e.g. "Deployment/accountservice". */
  owner: string;
  spec: PodSpec;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

type ServiceManifest = Manifest & { spec: { selector?: Record<string, string>; ports: ServicePort[] } };

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

/** The workloads' pods, as their controllers make them (a StatefulSet's first pod gets its claims as volumes). */
export function pods(manifests: Manifest[]): Pod[] {
  return manifests.flatMap((m): Pod[] => {
    const workload = m.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec }; volumeClaimTemplates?: { metadata: { name: string } }[] };
    const template = WORKLOADS.includes(m.kind)
      ? workload.template
      : m.kind === 'Pod'
        ? { metadata: m.metadata, spec: m.spec as PodSpec }
        : undefined;
    if (!template) return [];
    const claims = (workload.volumeClaimTemplates ?? []).map((claim) => ({
      name: claim.metadata.name,
      persistentVolumeClaim: { claimName: `${claim.metadata.name}-${m.metadata.name}-0` },
    }));
    if (claims.length > 0) template.spec = { ...template.spec, volumes: [...(template.spec.volumes ?? []), ...claims] };
    return [
      {
        name: m.metadata.name,
        owner: `${m.kind}/${m.metadata.name}`,
        namespace: m.metadata.namespace ?? NAMESPACE,
        labels: template.metadata.labels ?? {},
        ports: template.spec.containers.flatMap((c) => c.ports ?? []),
        spec: template.spec,
      },
    ];
  });
}

export function pod(manifests: Manifest[], name: string): Pod {
  const found = pods(manifests).find((p) => p.name === name);
  if (!found) throw new Error(`no pod of a workload named ${name}`);
  return found;
}

export function services(manifests: Manifest[]): ServiceManifest[] {
  return manifests.filter((m): m is ServiceManifest => m.kind === 'Service');
}

/** The pods a Service's selector picks. */
export function backends(manifests: Manifest[], service: ServiceManifest): Pod[] {
  const selector = service.spec.selector ?? {};
  if (Object.keys(selector).length === 0) return [];
  return pods(manifests).filter((p) => Object.entries(selector).every(([key, value]) => p.labels[key] === value));
}

/** A Service port's target on a pod: a container port by number or by name. */
export function targetPort(servicePort: ServicePort, pod: Pod): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  const ports = pod.ports ?? [];
  const found = typeof target === 'number' ? ports.find((p) => p.containerPort === target) : ports.find((p) => p.name === target);
  return found?.containerPort;
}

/** A probe's port as a container port number. */
export function probePort(probe: Probe, container: Container): number | undefined {
  const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

export interface Destination {
  service: ServiceManifest;
  pods: Pod[];
  containerPort: number;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'amqp:': 5672, 'amqps:': 5671 };

/** A URL's port, or its scheme's default. */
export function portOf(url: URL): number {
  return Number(url.port || DEFAULT_PORTS[url.protocol]);
}

/** Where a URL lands in the release: its Service, the Service's pods and their port; or undefined. */
export function resolveUrl(manifests: Manifest[], url: string): Destination | undefined {
  const parsed = new URL(url);
  const [name, namespace = NAMESPACE, ...rest] = parsed.hostname.split('.');
  const clusterDomain = rest.length === 0 || rest.join('.') === 'svc' || rest.join('.') === 'svc.cluster.local';
  if (!clusterDomain || namespace !== NAMESPACE) return undefined;
  const service = services(manifests).find((s) => s.metadata.name === name);
  if (!service) return undefined;
  const port = portOf(parsed);
  const servicePort = service.spec.ports.find((p) => p.port === port);
  if (!servicePort) return undefined;
  const picked = backends(manifests, service);
  const containerPorts = new Set(picked.map((p) => targetPort(servicePort, p)));
  const [containerPort] = [...containerPorts];
  if (picked.length === 0 || containerPorts.size !== 1 || containerPort === undefined) return undefined;
  return { service, pods: picked, containerPort };
}

/** A container's environment with Secret and ConfigMap references read from the rendered objects. */
export function environment(manifests: Manifest[], container: Container): Record<string, string | undefined> {
  const read = (kind: string, ref: { name: string; key: string }) => {
    const source = manifests.find((m) => m.kind === kind && m.metadata.name === ref.name) as
      | (Manifest & { data?: Record<string, string>; stringData?: Record<string, string> })
      | undefined;
    if (!source) return undefined;
    if (kind === 'ConfigMap') return source.data?.[ref.key];
    const encoded = source.data?.[ref.key];
    return encoded === undefined ? source.stringData?.[ref.key] : Buffer.from(encoded, 'base64').toString('utf8');
  };
  return Object.fromEntries(
    (container.env ?? []).map((e) => [
      e.name,
      e.value ??
        (e.valueFrom?.secretKeyRef && read('Secret', e.valueFrom.secretKeyRef)) ??
        (e.valueFrom?.configMapKeyRef && read('ConfigMap', e.valueFrom.configMapKeyRef)),
    ]),
  );
}

/** One path the edge routes (an Ingress path or an HTTPRoute match), to a Service port. */
export interface EdgeRoute {
  kind: 'Ingress' | 'HTTPRoute';
  /** Undefined: any host. */
  host?: string;
  path: string;
  /** Ingress pathType (HTTPRoute's PathPrefix is Prefix). */
  type: 'Exact' | 'Prefix';
  service: string;
  port: { name?: string; number?: number };
}

type IngressSpec = {
  rules: {
    host?: string;
    http: { paths: { path: string; pathType: 'Exact' | 'Prefix'; backend: { service: { name: string; port: { name?: string; number?: number } } } }[] };
  }[];
};
type HTTPRouteSpec = {
  hostnames?: string[];
  rules: { matches?: { path?: { type: string; value: string } }[]; backendRefs: { name: string; port: number }[] }[];
};

/** Every path the release's Ingresses and HTTPRoutes route. */
export function edgeRoutes(manifests: Manifest[]): EdgeRoute[] {
  return manifests.flatMap((m): EdgeRoute[] => {
    if (m.kind === 'Ingress') {
      return (m.spec as IngressSpec).rules.flatMap((rule) =>
        rule.http.paths.map((p) => ({ kind: 'Ingress' as const, host: rule.host, path: p.path, type: p.pathType, service: p.backend.service.name, port: p.backend.service.port })),
      );
    }
    if (m.kind === 'HTTPRoute') {
      const spec = m.spec as HTTPRouteSpec;
      return spec.rules.flatMap((rule) =>
        (rule.matches ?? [{ path: { type: 'PathPrefix', value: '/' } }]).flatMap((match) =>
          (spec.hostnames ?? [undefined]).flatMap((host) =>
            rule.backendRefs.map((ref) => ({
              kind: 'HTTPRoute' as const,
              host,
              path: match.path?.value ?? '/',
              type: match.path?.type === 'Exact' ? ('Exact' as const) : ('Prefix' as const),
              service: ref.name,
              port: { number: ref.port },
            })),
          ),
        ),
      );
    }
    return [];
  });
}

/**
 * The route an edge picks for a URL, as the Ingress API defines it: the host must match (a rule
 * without one matches any), Exact matches the whole path, Prefix matches whole path elements
 * (/file matches /file and /file/x, not /files); the longest path wins, Exact before Prefix.
 */
export function routeFor(routes: EdgeRoute[], url: string): EdgeRoute | undefined {
  const { hostname, pathname } = new URL(url);
  const elements = (path: string) => path.split('/').filter(Boolean);
  const matches = (route: EdgeRoute) => {
    if (route.host !== undefined && route.host !== hostname) return false;
    if (route.type === 'Exact') return route.path === pathname;
    const prefix = elements(route.path);
    const path = elements(pathname);
    return prefix.every((element, i) => path[i] === element);
  };
  return routes
    .filter(matches)
    .sort((a, b) => b.path.length - a.path.length || (a.type === 'Exact' ? -1 : 1) - (b.type === 'Exact' ? -1 : 1))[0];
}
