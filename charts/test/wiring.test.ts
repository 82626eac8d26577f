/**
 * The rendered release wired as a trace needs it: every URL in every environment lands on a
 * rendered Service and a port its pods listen on; the edge reaches accountservice; probes ask
 * the services' health routes on their port; and the NetworkPolicies let every hop of the trace
 * through while refusing hops nothing needs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { PolicySet, type Endpoint, type NetworkPolicy } from './netpol.ts';
import { find, NAMESPACE, notes, OUR_SERVICES, render, SCENARIOS, type Manifest, type Values } from './render.ts';
import {
  backends,
  edgeRoutes,
  environment,
  pod,
  pods,
  portOf,
  probePort,
  resolveUrl,
  routeFor,
  services,
  targetPort,
  type EdgeRoute,
  type Pod,
} from './topology.ts';

const URL_SCHEMES = ['http:', 'https:', 'amqp:', 'amqps:'];

/** Endpoints outside the release. */
const edgePods: Endpoint[] = [
  { name: 'traefik', namespace: 'traefik', labels: { 'app.kubernetes.io/name': 'traefik' } },
  { name: 'traefik (k3s)', namespace: 'kube-system', labels: { 'app.kubernetes.io/name': 'traefik' } },
  { name: 'envoy', namespace: 'envoy-gateway-system', labels: { 'app.kubernetes.io/name': 'envoy' } },
];
const dns: Endpoint = { name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
const stranger: Endpoint = { name: 'stranger', namespace: 'default', labels: { app: 'stranger' } };
const internet: Endpoint = { name: 'the internet', namespace: '', labels: {}, external: true };

interface Hop {
  from: Endpoint;
  to: Endpoint;
  port: number;
  why: string;
}

/** Variables holding URLs a service hands out to clients, not URLs it calls. */
const LINK_VARIABLES = ['PUBLIC_URL'];

/** A URL in an environment that parses and has a scheme we call. */
function urlsIn(env: Record<string, string | undefined>): [string, string][] {
  return Object.entries(env).flatMap(([name, value]) => {
    if (!value || LINK_VARIABLES.includes(name)) return [];
    return value.split(',').flatMap((part): [string, string][] => {
      try {
        return URL_SCHEMES.includes(new URL(part).protocol) ? [[name, part]] : [];
      } catch {
        return [];
      }
    });
  });
}

/** Every connection the release makes or takes, from its environments, config and edge. */
function hops(manifests: Manifest[]): Hop[] {
  const result: Hop[] = [];
  const toUrl = (from: Pod, url: string, why: string) => {
    const destination = resolveUrl(manifests, url);
    if (!destination) {
      result.push({ from, to: internet, port: portOf(new URL(url)), why });
    } else {
      for (const to of destination.pods) result.push({ from, to, port: destination.containerPort, why });
    }
  };
  for (const p of pods(manifests)) {
    for (const c of p.spec.containers) {
      for (const [name, url] of urlsIn(environment(manifests, c))) toUrl(p, url, `${p.name} ${name}=${url}`);
    }
    result.push({ from: p, to: dns, port: 53, why: `${p.name} resolves names` });
  }
  const collector = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name.endsWith('otel-collector'));
  if (collector) {
    const config = parse((collector as Manifest & { data: Record<string, string> }).data['config.yaml']!) as {
      exporters: { zipkin: { endpoint: string } };
    };
    const collectorPod = pod(manifests, collector.metadata.name);
    // The collector expands ${env:NAME} in its configuration from its container's environment.
    const env = environment(manifests, collectorPod.spec.containers[0]!);
    const endpoint = config.exporters.zipkin.endpoint.replace(/\$\{env:(\w+)\}/g, (_, name: string) => env[name] ?? `<${name} unset>`);
    toUrl(collectorPod, endpoint, 'the collector exports to Zipkin');
    for (const edge of edgePods) {
      for (const port of [4317, 4318]) result.push({ from: edge, to: pod(manifests, collector.metadata.name), port, why: 'the edge reports spans' });
    }
  }
  for (const { service, port } of edgeBackends(manifests)) {
    for (const to of backends(manifests, service)) {
      for (const edge of edgePods) result.push({ from: edge, to, port: targetPort(port, to)!, why: `the edge routes to ${service.metadata.name}` });
    }
  }
  return result;
}

/** The Services (and their ports) behind the Ingress and HTTPRoute. */
function edgeBackends(manifests: Manifest[]) {
  return edgeRoutes(manifests).map((route) => {
    const service = services(manifests).find((s) => s.metadata.name === route.service);
    assert.ok(service, `the edge's backend ${route.service} is a rendered Service`);
    const port = service.spec.ports.find((p) => (route.port.name ? p.name === route.port.name : p.port === route.port.number));
    assert.ok(port, `Service ${route.service} has the edge's port ${JSON.stringify(route.port)}`);
    return { service, port };
  });
}

/** The component (app.kubernetes.io/name) of the pods the edge sends a URL to, if it routes it. */
function serviceAt(manifests: Manifest[], routes: EdgeRoute[], url: string): string | undefined {
  const route = routeFor(routes, url);
  const service = route && services(manifests).find((s) => s.metadata.name === route.service);
  return service && backends(manifests, service)[0]?.labels['app.kubernetes.io/name'];
}

function policies(manifests: Manifest[]): PolicySet {
  const list = manifests.filter((m) => m.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
  return new PolicySet(list, NAMESPACE);
}

for (const [scenario, values] of Object.entries(SCENARIOS)) {
  describe(`wiring: ${scenario}`, () => {
    const manifests = render(values);
    const externalUrls = [
      (values.amqp as { externalUrl?: string } | undefined)?.externalUrl,
      (values.externalZipkin as { url?: string } | undefined)?.url,
      (values.externalZipkin as { queryUrl?: string } | undefined)?.queryUrl,
      'http://elasticsearch:9200',
    ].filter(Boolean);

    test('every URL in every environment lands on a rendered Service and port, or is a configured external one', () => {
      for (const p of pods(manifests)) {
        for (const c of p.spec.containers) {
          for (const [name, url] of urlsIn(environment(manifests, c))) {
            const known = externalUrls.some((external) => url.startsWith(external!.replace(/\/$/, '')));
            assert.ok(resolveUrl(manifests, url) || known, `${p.owner} ${name}=${url} reaches nothing rendered`);
          }
        }
      }
    });

    test('our services get the URLs of what they call, and secrets that exist', () => {
      const env = (name: string) => environment(manifests, pods(manifests).find((p) => p.labels['app.kubernetes.io/name'] === name)!.spec.containers[0]!);
      for (const name of OUR_SERVICES) assert.ok(env(name).ZIPKIN_URL, `${name} has ZIPKIN_URL`);
      for (const name of ['accountservice', 'vipservice']) assert.ok(env(name).AMQP_URL, `${name} has AMQP_URL from an existing Secret`);
      const account = env('accountservice');
      assert.equal(resolveUrl(manifests, account.QUOTES_SERVICE_URL!)?.pods[0]?.labels['app.kubernetes.io/name'], 'quotes-service');
      assert.equal(resolveUrl(manifests, account.IMAGE_SERVICE_URL!)?.pods[0]?.labels['app.kubernetes.io/name'], 'imageservice');
      assert.equal(account.DATA_DIR, '/data');
      for (const name of OUR_SERVICES) assert.equal(env(name).TESTABILITY_ENABLED, 'false', `${name}: testability stays off`);
    });

    test("each service's V8 heap limit leaves room under its container's memory limit", () => {
      for (const name of OUR_SERVICES) {
        const container = pods(manifests).find((p) => p.labels['app.kubernetes.io/name'] === name)!.spec.containers[0]!;
        const flags = environment(manifests, container).DENO_V8_FLAGS;
        const heap = /--max-old-space-size=(\d+)/.exec(flags ?? '');
        assert.ok(heap, `${name}: DENO_V8_FLAGS=${flags} sets the old-space limit`);
        const limit = /^(\d+)(Mi|Gi)$/.exec(String(container.resources?.limits?.memory));
        assert.ok(limit, `${name}: a memory limit in Mi or Gi`);
        const limitMiB = Number(limit[1]) * (limit[2] === 'Gi' ? 1024 : 1);
        assert.ok(Number(heap[1]) <= limitMiB * 0.75, `${name}: heap ${heap[1]} MiB under three quarters of ${limitMiB} MiB`);
      }
    });

    test('every Service selects pods that listen on its target ports', () => {
      for (const service of services(manifests)) {
        const picked = backends(manifests, service);
        assert.ok(picked.length > 0, `Service ${service.metadata.name} selects a pod`);
        for (const port of service.spec.ports) {
          for (const p of picked) assert.ok(targetPort(port, p), `Service ${service.metadata.name} port ${port.port} targets a port of ${p.owner}`);
        }
      }
    });

    test('the edge routes the accounts API and what its answers link to, and nothing else', () => {
      const routes = edgeRoutes(manifests);
      assert.ok(routes.length > 0, 'an Ingress or HTTPRoute is rendered');
      const host = (values.edge as { host?: string } | undefined)?.host ?? 'any.example';
      for (const kind of new Set(routes.map((r) => r.kind))) {
        const ofKind = routes.filter((r) => r.kind === kind);
        assert.equal(serviceAt(manifests, ofKind, `https://${host}/api/accounts/10000`), 'accountservice', `${kind}: the accounts API`);
        assert.equal(serviceAt(manifests, ofKind, `https://${host}/file/forest.jpg`), 'imageservice', `${kind}: sepia images`);
        assert.equal(serviceAt(manifests, ofKind, `https://${host}/placeholder.jpg`), 'accountservice', `${kind}: the fallback image`);
      }
      for (const path of ['/accounts/10000', '/health', '/files/x.jpg', '/placeholder.jpg/x', '/api/quote', '/testability/failing/true']) {
        assert.equal(serviceAt(manifests, routes, `https://${host}${path}`), undefined, `${path} stays inside`);
      }
      for (const m of manifests.filter((m) => m.kind === 'Ingress')) {
        assert.ok((m.spec as { tls: { secretName: string }[] }).tls[0]?.secretName, 'the Ingress terminates TLS');
        assert.deepEqual(m.metadata.annotations ?? {}, {}, 'no controller-specific annotations');
      }
    });

    test("links in answers start with the edge's public address, which the edge routes back", () => {
      const host = (values.edge as { host?: string } | undefined)?.host;
      const env = (name: string) => environment(manifests, pods(manifests).find((p) => p.labels['app.kubernetes.io/name'] === name)!.spec.containers[0]!);
      for (const name of ['accountservice', 'imageservice']) {
        const publicUrl = env(name).PUBLIC_URL;
        if (!host) {
          assert.equal(publicUrl, undefined, `${name}: no public address without edge.host`);
          continue;
        }
        assert.equal(new URL(publicUrl ?? 'none:').hostname, host, name);
        assert.equal(serviceAt(manifests, edgeRoutes(manifests), `${publicUrl}/file/forest.jpg`), 'imageservice');
        assert.equal(serviceAt(manifests, edgeRoutes(manifests), `${publicUrl}/placeholder.jpg`), 'accountservice');
      }
      for (const name of ['quotes-service', 'vipservice']) assert.equal(env(name).PUBLIC_URL, undefined, `${name} links to nothing`);
    });

    test("probes ask our services' health routes on their container port", () => {
      const paths = { startupProbe: '/health/live', readinessProbe: '/health/ready', livenessProbe: '/health/live' };
      for (const name of OUR_SERVICES) {
        const p = pods(manifests).find((candidate) => candidate.labels['app.kubernetes.io/name'] === name)!;
        const container = p.spec.containers[0]!;
        const port = Number(environment(manifests, container).PORT);
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
          const probe = container[kind];
          assert.equal(probe?.httpGet?.path, paths[kind], `${name} ${kind} path`);
          assert.equal(probePort(probe!, container), port, `${name} ${kind} port is the one PORT makes it listen on`);
        }
      }
    });

    test("Zipkin's startup and liveness ask only whether it serves; readiness asks /health, which includes its storage", () => {
      const zipkin = pods(manifests).find((p) => p.labels['app.kubernetes.io/name'] === 'zipkin');
      if (!zipkin) return; // an external Zipkin
      const container = zipkin.spec.containers[0]!;
      const http = container.ports!.find((p) => p.name === 'http')!.containerPort;
      for (const kind of ['startupProbe', 'livenessProbe'] as const) {
        assert.deepEqual(container[kind]?.httpGet, undefined, `${kind}: no HTTP check, which /health would fail with the storage down`);
        assert.equal(probePort(container[kind]!, container), http, `${kind}: a TCP connection to the HTTP port`);
      }
      assert.equal(container.readinessProbe?.httpGet?.path, '/health');
    });

    if (values.networkPolicy === undefined) {
      test('the NetworkPolicies let every hop of the trace through', () => {
        const set = policies(manifests);
        const blocked = hops(manifests)
          .filter((hop) => !set.allows(hop.from, hop.to, hop.port, hop.to === dns ? 'UDP' : 'TCP'))
          .map((hop) => hop.why);
        assert.deepEqual(blocked, []);
      });

      test('the NetworkPolicies refuse hops nothing needs', () => {
        const set = policies(manifests);
        const named = (name: string) => pods(manifests).find((p) => p.labels['app.kubernetes.io/name'] === name);
        const refused: [Endpoint | undefined, Endpoint | undefined, number][] = [
          [named('vipservice'), named('quotes-service'), 8080],
          [named('vipservice'), named('accountservice'), 6767],
          [named('quotes-service'), named('rabbitmq'), 5672],
          [named('imageservice'), named('accountservice'), 6767],
          [named('accountservice'), named('vipservice'), 6868],
          [named('accountservice'), internet, 22],
          [stranger, named('accountservice'), 6767],
          [stranger, named('rabbitmq'), 5672],
          [stranger, named('zipkin'), 9411],
          [edgePods[0], named('quotes-service'), 8080],
          [edgePods[0], named('rabbitmq'), 5672],
        ];
        for (const [from, to, port] of refused) {
          if (!from || !to) continue; // not rendered in this scenario
          assert.equal(set.allows(from, to, port), false, `${from.name} -> ${to.name}:${port} is refused`);
        }
      });
    } else {
      test('no NetworkPolicy is rendered', () => {
        assert.equal(manifests.filter((m) => m.kind === 'NetworkPolicy').length, 0);
      });
    }
  });
}

test('the evaluator follows the API: no policy allows all, a selecting policy allows only its rules', () => {
  const a: Endpoint = { name: 'a', namespace: 'ns', labels: { app: 'a' } };
  const b: Endpoint = { name: 'b', namespace: 'ns', labels: { app: 'b' }, ports: [{ name: 'http', containerPort: 80 }] };
  const other: Endpoint = { name: 'c', namespace: 'other', labels: { app: 'a' } };
  assert.equal(new PolicySet([], 'ns').allows(a, b, 80), true);
  const onlyFromA: NetworkPolicy = {
    metadata: { name: 'b' },
    spec: { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 'http' }] }] },
  };
  const set = new PolicySet([onlyFromA], 'ns');
  assert.equal(set.allows(a, b, 80), true);
  assert.equal(set.allows(a, b, 81), false, 'another port');
  assert.equal(set.allows(other, b, 80), false, 'the same labels in another namespace');
  assert.equal(set.allows(b, a, 80), true, 'b itself is not isolated for egress');
  const denyEgress: NetworkPolicy = { metadata: { name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Egress'] } };
  assert.equal(new PolicySet([onlyFromA, denyEgress], 'ns').allows(a, b, 80), false, 'egress denied at the source');
  const anyNamespace: NetworkPolicy = {
    metadata: { name: 'b' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['other'] }] } }] }] },
  };
  assert.equal(new PolicySet([anyNamespace], 'ns').allows(other, b, 80), true);
  assert.equal(new PolicySet([anyNamespace], 'ns').allows(a, b, 80), false);
});

test('the default render holds the trace hops this test derives', () => {
  const manifests = render({});
  const whys = hops(manifests).map((hop) => hop.why);
  for (const expected of [
    'accountservice QUOTES_SERVICE_URL=http://quotes-service:8080',
    'accountservice IMAGE_SERVICE_URL=http://imageservice:7777',
    'vipservice ZIPKIN_URL=http://zipkin:9411',
    'the edge routes to accountservice',
    'the collector exports to Zipkin',
  ]) {
    assert.ok(whys.includes(expected), `derived: ${expected}`);
  }
  assert.ok(whys.some((why) => why.startsWith('accountservice AMQP_URL=amqp://landscape:')));
  assert.ok(whys.some((why) => why.startsWith('landscape-test ACCOUNT_URL=http://accountservice:6767/accounts/')));
  assert.ok(find(manifests, 'Pod', 'landscape-test'));
});

test("PUBLIC_URL follows the edge's public address", () => {
  const publicUrl = (edge: Record<string, unknown>) => {
    const manifests = render({ edge });
    return environment(manifests, pod(manifests, 'imageservice').spec.containers[0]!).PUBLIC_URL;
  };
  assert.equal(publicUrl({}), undefined, 'no host: links name the address the service was called at');
  assert.equal(publicUrl({ host: 'shop.example.com' }), 'https://shop.example.com');
  assert.equal(publicUrl({ host: 'shop.example.com', publicUrl: 'https://localhost:8443/' }), 'https://localhost:8443');
  // Traefik's websecure entry point listens on 8443 in its pod; its Service exposes it on 443.
  const traefikGateway = { host: 'shop.example.com', ingress: { enabled: false }, gateway: { enabled: true, className: 'traefik', port: 8443 } };
  assert.equal(publicUrl(traefikGateway), 'https://shop.example.com', "the port clients use, not the Gateway's listener port");
  assert.equal(publicUrl({ ...traefikGateway, publicPort: 8443 }), 'https://shop.example.com:8443', 'edge.publicPort when clients use another');
  assert.equal(publicUrl({ host: 'shop.example.com', publicPort: 443 }), 'https://shop.example.com', "HTTPS's own port is left out");
  assert.equal(publicUrl({ host: 'shop.example.com', ingress: { enabled: false } }), undefined, 'no edge rendered');
  assert.throws(() => render({ edge: { publicUrl: 'https://shop.example.com/prefix' } }), /schema/, 'a base URL without a path');
});

test("an external broker's or Zipkin's port, also behind an IPv6 literal, is the one the NetworkPolicies open", () => {
  const opened = (values: Values, component: string) => {
    const policy = find(render(values), 'NetworkPolicy', `${component}-allow`) as Manifest & { spec: { egress: { to?: unknown; ports: { port: number }[] }[] } };
    return policy.spec.egress.filter((rule) => !rule.to).flatMap((rule) => rule.ports.map((p) => p.port));
  };
  const broker = (externalUrl: string) => opened({ rabbitmq: { enabled: false }, amqp: { externalUrl } }, 'vipservice');
  assert.deepEqual(broker('amqps://u:p@[2001:db8::1]/prod'), [5671], "amqps's default");
  assert.deepEqual(broker('amqp://u:p@[2001:db8::1]:5673/prod'), [5673]);
  assert.deepEqual(broker('amqp://u:p@broker.example.com'), [5672]);
  assert.deepEqual(opened({ zipkin: { enabled: false }, externalZipkin: { url: 'http://[fd00::9]:9411' } }, 'quotes-service'), [9411]);
  assert.deepEqual(opened({ zipkin: { enabled: false }, externalZipkin: { url: 'https://[fd00::9]' } }, 'quotes-service'), [443]);
  // The helm test also reads a query API apart from the receiver; the services only send.
  const apart = { zipkin: { enabled: false }, externalZipkin: { url: 'http://otel:4411', queryUrl: 'https://[fd00::9]:8443' } };
  assert.deepEqual(opened(apart, 'landscape-test'), [4411, 8443]);
  assert.deepEqual(opened(apart, 'quotes-service'), [4411]);
});

test('the install notes send curl to the address the links in answers name', () => {
  const traefikGateway = { host: 'shop.example.com', ingress: { enabled: false }, gateway: { enabled: true, className: 'traefik', port: 8443 } };
  for (const edge of [traefikGateway, { ...traefikGateway, publicPort: 8443 }, { host: 'shop.example.com' }, { publicUrl: 'https://localhost:8443' }]) {
    const manifests = render({ edge });
    const publicUrl = environment(manifests, pod(manifests, 'accountservice').spec.containers[0]!).PUBLIC_URL;
    assert.match(notes({ edge }), new RegExp(`curl -k ${publicUrl!.replace(/[.]/g, '\\.')}/api/accounts/10000\n`), JSON.stringify(edge));
  }
});

test('tracing.sampleRate from --set (text) or from a values file (a number) reaches the services in decimal notation', () => {
  const rate = (values: Values, set?: string[]) => {
    const manifests = render(values, undefined, { set });
    return OUR_SERVICES.map((name) => environment(manifests, pod(manifests, name).spec.containers[0]!).TRACING_SAMPLE_RATE);
  };
  assert.deepEqual(rate({}, ['tracing.sampleRate=0.1']), Array(4).fill('0.1'), '--set passes the fraction as a string');
  assert.deepEqual(rate({}, ['tracing.sampleRate=1']), Array(4).fill('1'));
  assert.deepEqual(rate({}, ['tracing.sampleRate=.25']), Array(4).fill('0.25'));
  // The services read decimals only (lib/config.ts), never "1e-05".
  assert.deepEqual(rate({ tracing: { sampleRate: 0.00001 } }), Array(4).fill('0.00001'));
  for (const wrong of ['1.5', 'half', '-0.1', '1e-3']) {
    assert.throws(() => render({}, undefined, { set: [`tracing.sampleRate=${wrong}`] }), /values don't meet the specifications of the schema/, wrong);
  }
});

test("imageservice's toning settings reach it, and the schema holds them to what the service accepts", () => {
  const env = (values: Record<string, unknown>) => {
    const manifests = render({ services: { imageservice: values } });
    return environment(manifests, pod(manifests, 'imageservice').spec.containers[0]!);
  };
  const defaults = env({});
  assert.deepEqual([defaults.IMAGE_WORKERS, defaults.IMAGE_MAX_PIXELS], ['1', '12000000'], 'one worker, 12 MP: what the memory limit holds');
  const raised = env({ toning: { workers: 2, maxPixels: 25_000_000 } });
  assert.deepEqual([raised.IMAGE_WORKERS, raised.IMAGE_MAX_PIXELS], ['2', '25000000'], 'written out in full, not as 2.5e+07');
  for (const toning of [{ workers: 0, maxPixels: 1 }, { workers: 1, maxPixels: 25_000_001 }]) {
    assert.throws(() => render({ services: { imageservice: { toning } } }), /schema/, JSON.stringify(toning));
  }
});

test("V8's flags: each service's heap limit and the young generation's semi-space limit, in one DENO_V8_FLAGS", () => {
  const flags = (values: Record<string, unknown>, name: string) => {
    const manifests = render(values);
    return environment(manifests, pod(manifests, name).spec.containers[0]!).DENO_V8_FLAGS;
  };
  assert.equal(flags({}, 'accountservice'), '--max-old-space-size=128,--max-semi-space-size=4', 'its own');
  assert.equal(flags({}, 'quotes-service'), '--max-old-space-size=64,--max-semi-space-size=2', "the chart's");
  assert.equal(flags({ maxSemiSpaceMiB: 8 }, 'accountservice'), '--max-old-space-size=128,--max-semi-space-size=4', 'its own, whatever the chart says');
  assert.equal(flags({ services: { accountservice: { maxSemiSpaceMiB: 0 } } }, 'accountservice'), '--max-old-space-size=128', "0: V8's default");
  assert.equal(flags({ services: { imageservice: { maxSemiSpaceMiB: 1 } } }, 'imageservice'), '--max-old-space-size=192,--max-semi-space-size=1');
  assert.equal(flags({ maxSemiSpaceMiB: 0 }, 'quotes-service'), '--max-old-space-size=64', "0: V8's default");
  assert.equal(flags({ services: { vipservice: { heapLimitMiB: 0 } } }, 'vipservice'), '--max-semi-space-size=2');
  assert.equal(flags({ maxSemiSpaceMiB: 0, services: { vipservice: { heapLimitMiB: 0 } } }, 'vipservice'), undefined);
  assert.throws(() => render({ maxSemiSpaceMiB: 65 }), /schema/);
  assert.throws(() => render({ services: { accountservice: { maxSemiSpaceMiB: 65 } } }), /schema/);
});
