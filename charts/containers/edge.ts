/**
 * The check's edge: Debian's nginx configured from the rendered Ingress, as an Ingress
 * controller would serve it — TLS with the Ingress's Secret, its host, and each path to its
 * Service by name and port (Exact as `location =`, Prefix as the path itself and everything
 * below it; nginx, like the Ingress API, prefers an exact match, then the longest prefix).
 */
import type { Manifest } from '../test/render.ts';
import { edgeRoutes, services, type EdgeRoute } from '../test/topology.ts';

export interface EdgeConfig {
  /** nginx.conf */
  config: string;
  /** The Ingress's TLS Secret's name, whose tls.crt and tls.key the config names. */
  tlsSecret: string;
  host?: string;
}

/** The upstream URL of a route: its Service's name and port, resolved by the network's DNS. */
function upstream(manifests: Manifest[], route: EdgeRoute): string {
  const service = services(manifests).find((s) => s.metadata.name === route.service);
  const port = service?.spec.ports.find((p) => (route.port.name ? p.name === route.port.name : p.port === route.port.number));
  if (!port) throw new Error(`the Ingress routes ${route.path} to ${route.service}:${JSON.stringify(route.port)}, which is not rendered`);
  return `http://${route.service}:${port.port}`;
}

function location(match: string, target: string): string {
  return [
    `    location ${match} {`,
    `      proxy_pass ${target};`,
    '      proxy_set_header Host $host;',
    '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '      proxy_set_header X-Forwarded-Proto $scheme;',
    '    }',
  ].join('\n');
}

/** nginx.conf for the release's Ingress (exactly one, with one rule), its files under `dir`. */
export function nginxConfig(manifests: Manifest[], dir = '/etc/nginx/edge'): EdgeConfig {
  const ingresses = manifests.filter((m) => m.kind === 'Ingress');
  if (ingresses.length !== 1) throw new Error(`the edge serves one Ingress; the release renders ${ingresses.length}`);
  const spec = ingresses[0]!.spec as { tls?: { secretName: string }[]; rules: { host?: string }[] };
  const tlsSecret = spec.tls?.[0]?.secretName;
  if (!tlsSecret) throw new Error('the Ingress has no TLS Secret');
  const routes = edgeRoutes(ingresses);
  const host = routes[0]?.host;
  const locations = routes.flatMap((route) => {
    const target = upstream(manifests, route);
    if (route.type === 'Exact') return [location(`= ${route.path}`, target)];
    const path = route.path.replace(/\/$/, '');
    return path === '' ? [location('/', target)] : [location(`= ${path}`, target), location(`${path}/`, target)];
  });
  const config = [
    'worker_processes 1;',
    'pid /tmp/nginx.pid;',
    'error_log stderr warn;',
    'events {}',
    'http {',
    '  access_log off;',
    '  client_body_temp_path /tmp/client-body;',
    '  proxy_temp_path /tmp/proxy;',
    '  server {',
    '    listen 443 ssl default_server;',
    `    server_name ${host ?? '_'};`,
    `    ssl_certificate ${dir}/tls.crt;`,
    `    ssl_certificate_key ${dir}/tls.key;`,
    ...(host ? ['    if ($host != "' + host + '") { return 404; }'] : []),
    ...locations,
    // What the Ingress does not route is not found, as at a controller's default backend.
    ...(routes.some((r) => r.type === 'Prefix' && r.path.replace(/\/$/, '') === '') ? [] : ['    location / { return 404; }']),
    '  }',
    '}',
    '',
  ].join('\n');
  return { config, tlsSecret, host };
}
