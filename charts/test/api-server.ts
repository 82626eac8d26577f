/**
 * A stand-in for a Kubernetes API server, as far as `helm template --dry-run=server` needs one:
 * discovery of the kinds the chart renders, and GET of the objects it is given, which is what the
 * chart's `lookup` reads (a Secret kept across upgrades). Every other object is absent (404), as on
 * a first install. It lets the tests render an upgrade without a cluster.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from './render.ts';

export interface ApiServer {
  /** A kubeconfig file pointing at it, for `helm --kubeconfig`. */
  kubeconfig: string;
  close(): Promise<void>;
}

/** Kubernetes' plural resource name of a kind, as discovery reports it (Ingress → ingresses, NetworkPolicy → networkpolicies, Gateway → gateways). */
export function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (lower.endsWith('s')) return `${lower}es`;
  return `${lower}s`;
}

/**
 * Serves discovery of `kinds` (`apiVersion` and `kind`, each namespaced) and GET of `objects` by
 * namespace and name, on loopback; resolves once it listens.
 */
export async function startApiServer(kinds: Array<Pick<Manifest, 'apiVersion' | 'kind'>>, objects: Manifest[]): Promise<ApiServer> {
  const versions = new Map<string, Set<string>>();
  for (const { apiVersion, kind } of [...kinds, ...objects]) (versions.get(apiVersion) ?? versions.set(apiVersion, new Set()).get(apiVersion)!).add(kind);
  const groups = [...versions.keys()].filter((version) => version.includes('/'));
  const resources = (apiVersion: string) => ({
    kind: 'APIResourceList',
    groupVersion: apiVersion,
    resources: [...versions.get(apiVersion)!].map((kind) => ({ name: pluralOf(kind), singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] })),
  });
  const stored = new Map(objects.map((object) => [`${object.apiVersion}/${pluralOf(object.kind)}/${object.metadata.namespace}/${object.metadata.name}`, object]));

  const send = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://api').pathname;
    if (path === '/version') return send(response, 200, { major: '1', minor: '35', gitVersion: 'v1.35.0' });
    if (path === '/api') return send(response, 200, { kind: 'APIVersions', versions: ['v1'] });
    if (path === '/apis') {
      const byGroup = new Map<string, string[]>();
      for (const version of groups) byGroup.set(version.split('/')[0]!, [...(byGroup.get(version.split('/')[0]!) ?? []), version]);
      const list = [...byGroup].map(([name, all]) => ({
        name,
        versions: all.map((groupVersion) => ({ groupVersion, version: groupVersion.split('/')[1] })),
        preferredVersion: { groupVersion: all[0], version: all[0]!.split('/')[1] },
      }));
      return send(response, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: list });
    }
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(path);
    const discovered = discovery && (discovery[1] ?? discovery[2])!;
    if (discovered && versions.has(discovered)) return send(response, 200, resources(discovered));
    const get = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    const object = get && request.method === 'GET' ? stored.get(`${get[1] ?? get[2]}/${get[4]}/${get[3]}/${get[5]}`) : undefined;
    if (object) return send(response, 200, object);
    send(response, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'landscape-kubeconfig-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'stand-in', user: {} }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in' } }],
      'current-context': 'stand-in',
    }),
  );
  return {
    kubeconfig,
    close: () =>
      new Promise<void>((resolve) => {
        rmSync(dir, { recursive: true, force: true });
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
