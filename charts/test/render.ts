/**
 * Rendering charts/landscape offline, as `helm install` would, into plain objects.
 * The chart's dependencies come from the packaged copies in charts/landscape/charts/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { helm, helmAsync } from '../../tools/helm.ts';
import { startApiServer } from './api-server.ts';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const chartDir = join(repoRoot, 'charts', 'landscape');
export const RELEASE = 'landscape';
export const NAMESPACE = 'landscape';
/** Our four services, by the names of their Deployments, Services and images. */
export const OUR_SERVICES = ['accountservice', 'imageservice', 'quotes-service', 'vipservice'];

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Values beside the defaults, as `-f` would give them. */
export type Values = Record<string, unknown>;

/** The value sets the chart is proven with: its defaults and each switch away from them. */
export const SCENARIOS: Record<string, Values> = {
  defaults: {},
  'external broker': { rabbitmq: { enabled: false }, amqp: { externalUrl: 'amqps://app:s3cret@broker.example.com:5671/prod' } },
  'external zipkin': { zipkin: { enabled: false }, externalZipkin: { url: 'https://zipkin.example.com' } },
  'external zipkin with basic auth': { zipkin: { enabled: false }, externalZipkin: { url: 'https://tracer:s3cret@zipkin.example.com:9443/' } },
  'write-only receiver, zipkin read apart': {
    zipkin: { enabled: false },
    externalZipkin: { url: 'http://otel-collector.observability:9411', queryUrl: 'https://reader:s3cret@zipkin.example.com:8443/' },
  },
  'policies off': { networkPolicy: { enabled: false } },
  'gateway edge': {
    edge: { host: 'landscape.example.com', ingress: { enabled: false }, gateway: { enabled: true, className: 'eg', envoyProxyTracing: true } },
  },
  'existing gateway, cert-manager': {
    edge: {
      host: 'landscape.example.com',
      gateway: { enabled: true, parentRef: { name: 'shared', namespace: 'gateways', sectionName: 'https' } },
      tls: { source: 'certManager', issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' } },
    },
  },
  'release prefix, persistent data, no collector': {
    global: { releasePrefix: true },
    services: { accountservice: { data: { existingClaim: 'account-data' } }, vipservice: { data: { existingClaim: 'vip-data' } } },
    otelCollector: { enabled: false },
    zipkin: { storage: { type: 'elasticsearch', elasticsearch: { hosts: 'http://elasticsearch:9200' } }, replicas: 2 },
  },
  'hot reload': { dev: { watch: true } },
  'IDs assigned by the cluster (OpenShift)': { global: { podSecurity: { assignIds: 'cluster' } } },
};

/** Runs `use` with the values written to a file, removed once `use` has returned or, for a promise, settled. */
function withValuesFile<T>(values: Values, use: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'landscape-values-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  let result: T;
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, JSON.stringify(values));
    result = use(file);
  } catch (error) {
    remove();
    throw error;
  }
  if (result instanceof Promise) return result.finally(remove) as T;
  remove();
  return result;
}

/** How `helm` is called beside the values: the release's name, and `--set` pairs as a user types them. */
export interface RenderOptions {
  release?: string;
  set?: string[];
  /** `--api-versions`: what the chart's .Capabilities.APIVersions holds without a cluster, as Argo CD passes it. */
  apiVersions?: string[];
}

/** What the stand-in API server serves beside what the chart renders, as discovery lists it. */
export type ApiKind = Pick<Manifest, 'apiVersion' | 'kind'>;

/** OpenShift's SecurityContextConstraints: served where pods are admitted by SCCs such as restricted-v2. */
export const OPENSHIFT_SCC: ApiKind = { apiVersion: 'security.openshift.io/v1', kind: 'SecurityContextConstraints' };

const setArgs = (set: string[] = [], apiVersions: string[] = []) => [...set.flatMap((pair) => ['--set', pair]), ...apiVersions.flatMap((version) => ['--api-versions', version])];

/** `helm template` of the chart with these values; the manifests in order, `helm test` hooks included. */
export function render(values: Values = {}, chart = chartDir, { release = RELEASE, set, apiVersions }: RenderOptions = {}): Manifest[] {
  return manifestsOf(withValuesFile(values, (file) => helm(['template', release, chart, '--namespace', NAMESPACE, '--values', file, ...setArgs(set, apiVersions)])));
}

/**
 * `render` as an upgrade of a release whose objects in the cluster are `existing` (their namespace
 * NAMESPACE unless they name one, owned by the release as Helm marks them): the chart's `lookup`
 * finds them, through a stand-in API server (api-server.ts) that `helm template --dry-run=server` asks.
 * `apis` are kinds the cluster serves besides the chart's (the chart's .Capabilities.APIVersions).
 */
export async function renderOver(existing: Manifest[], values: Values = {}, { release = RELEASE, set, apis = [] }: RenderOptions & { apis?: ApiKind[] } = {}): Promise<Manifest[]> {
  const kinds = render(values, chartDir, { release, set });
  // As Helm leaves them on what it installs: objects of another owner it refuses to take over.
  const objects = existing.map(({ metadata, ...object }) => ({
    ...object,
    metadata: {
      namespace: NAMESPACE,
      ...metadata,
      labels: { ...metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { ...metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': NAMESPACE },
    },
  }));
  const api = await startApiServer([...kinds, ...apis], objects);
  try {
    const out = await withValuesFile(values, (file) =>
      helmAsync(['template', release, chartDir, '--namespace', NAMESPACE, '--values', file, ...setArgs(set), '--dry-run=server', '--disable-openapi-validation', '--kubeconfig', api.kubeconfig]),
    );
    return manifestsOf(out);
  } finally {
    await api.close();
  }
}

function manifestsOf(out: string): Manifest[] {
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/** The NOTES.txt `helm install` prints for these values, from a client-side dry run (no cluster). */
export function notes(values: Values = {}, { release = RELEASE, set }: RenderOptions = {}): string {
  const out = withValuesFile(values, (file) =>
    helm(['install', release, chartDir, '--dry-run=client', '--namespace', NAMESPACE, '--values', file, '--kubeconfig', `${file}.none`, ...setArgs(set)]),
  );
  const at = out.indexOf('\nNOTES:\n');
  if (at < 0) throw new Error('helm printed no NOTES');
  return out.slice(at + '\nNOTES:\n'.length);
}

/** `helm lint --strict` with these values; throws with helm's findings. */
export function lint(values: Values = {}, chart = chartDir): string {
  return withValuesFile(values, (file) => helm(['lint', '--strict', chart, '--values', file]));
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return found;
}
