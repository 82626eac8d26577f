/**
 * The runner's reading of rendered pods, without an engine: each setting the chart writes
 * becomes the `docker run` option a kubelet's would, and what a kubelet refuses is refused —
 * a broken env wiring, Service selector or security setting among them. (The engine-side
 * breaks, a Dockerfile and a probe path, are run by `npm run test:containers`.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { render, type Manifest } from '../test/render.ts';
import { pod, type Pod } from '../test/topology.ts';
import { nginxConfig } from './edge.ts';
import { expandVars, podRun, quantity, resolveEnv, servicesWithoutPods, type RunContext } from './pod-run.ts';

const manifests = render({ edge: { host: 'shop.example.com' } });
const context = (overrides: Partial<RunContext> = {}): RunContext => ({
  manifests,
  network: 'net',
  podIp: '10.240.1.10',
  runId: 'run',
  volumesDir: '/volumes',
  image: { user: '1993:1993', entrypoint: ['/tini', '--', 'deno', 'run'], cmd: ['main.ts'] },
  ...overrides,
});
/** The values of a repeated option, e.g. every --env. */
const values = (args: string[], option: string) => args.flatMap((arg, i) => (args[i - 1] === option ? [arg] : []));
const afterImage = (args: string[], image: string) => args.slice(args.indexOf(image) + 1);

describe('a rendered pod as docker run', () => {
  const account = podRun(pod(manifests, 'accountservice'), context());

  test('the image, its command kept, on the network under the names of the Services that select it', () => {
    assert.deepEqual(afterImage(account.args, 'landscape/accountservice:0.1.0'), [], "no args: the image's ENTRYPOINT and CMD");
    assert.deepEqual(values(account.args, '--network-alias'), ['accountservice']);
    assert.deepEqual(values(account.args, '--ip'), ['10.240.1.10']);
    assert.deepEqual(values(account.args, '--hostname'), ['accountservice']);
  });

  test('the security contexts: user, fsGroup, read-only root, no privilege escalation, no capabilities', () => {
    assert.deepEqual(values(account.args, '--user'), ['1993:1993']);
    assert.deepEqual(values(account.args, '--group-add'), ['1993']);
    assert.ok(account.args.includes('--read-only'));
    assert.deepEqual(values(account.args, '--security-opt'), ['no-new-privileges']);
    assert.deepEqual(values(account.args, '--cap-drop'), ['ALL']);
  });

  test('resources as the kubelet enforces them: CPU quota and shares, the memory limit without swap', () => {
    assert.deepEqual(values(account.args, '--cpus'), ['0.5']);
    assert.deepEqual(values(account.args, '--cpu-shares'), [String(Math.floor(quantity('50m') * 1024))]);
    const limit = String(quantity(pod(manifests, 'accountservice').spec.containers[0]!.resources!.limits!.memory!));
    assert.deepEqual(values(account.args, '--memory'), [limit]);
    assert.deepEqual(values(account.args, '--memory-swap'), [limit]);
  });

  test('env with the Secret read, and PUBLIC_URL from the edge', () => {
    const env = Object.fromEntries(values(account.args, '--env').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    assert.match(env.AMQP_URL ?? '', /^amqp:\/\/landscape:[A-Za-z0-9]{24}@rabbitmq:5672$/);
    assert.equal(env.PUBLIC_URL, 'https://shop.example.com');
    assert.equal(env.DATA_DIR, '/data');
  });

  test("volumes: the kubelet's emptyDirs, world-writable and owned by the fsGroup, one set per pod", () => {
    const targets = values(account.args, '--mount').map((mount) => /target=([^,]+)/.exec(mount)?.[1]);
    assert.deepEqual(targets.sort(), ['/data', '/deno-dir', '/tmp']);
    for (const dir of account.volumeDirs) assert.deepEqual([dir.mode, dir.gid], [0o2777, 1993]);
    const again = podRun(pod(manifests, 'accountservice'), context({ podIp: '10.240.1.11' }));
    assert.notDeepEqual(again.volumeDirs.map((d) => d.path), account.volumeDirs.map((d) => d.path), 'a new pod, new emptyDirs');
  });

  test('probes as rendered, with Kubernetes defaults filled in', () => {
    assert.deepEqual(account.probes.startup, {
      action: { http: { port: 6767, path: '/health/live' } },
      initialDelaySeconds: 0,
      periodSeconds: 2,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 30,
    });
    assert.deepEqual(account.probes.readiness?.action, { http: { port: 6767, path: '/health/ready' } });
    assert.equal(account.gracePeriodSeconds, 30);
  });

  test("dev mode: the image's entrypoint with --watch, on a writable root, ended quickly", () => {
    const dev = podRun(pod(render({ dev: { watch: true } }), 'accountservice'), context({ manifests: render({ dev: { watch: true } }) }));
    assert.deepEqual(afterImage(dev.args, 'landscape/accountservice:0.1.0'), ['--watch', 'main.ts']);
    assert.ok(!dev.args.includes('--read-only'));
    assert.equal(dev.gracePeriodSeconds, 5);
  });

  test('a StatefulSet pod mounts its claim', () => {
    const rabbitmq = podRun(pod(manifests, 'rabbitmq'), context({ image: { user: '999:999', entrypoint: null, cmd: null } }));
    assert.ok(rabbitmq.volumeDirs.some((d) => d.path === '/volumes/claims/data-rabbitmq-0'));
  });
});

describe('Kubernetes semantics the runner follows', () => {
  const synthetic = (container: Record<string, unknown>, spec: Record<string, unknown> = {}): Pod => ({
    name: 'app',
    owner: 'Deployment/app',
    namespace: 'landscape',
    labels: { app: 'x', tier: 'web' },
    spec: { enableServiceLinks: false, containers: [{ name: 'app', image: 'app:1', ...container }], ...spec },
  });
  const secret: Manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { pass: Buffer.from('p@ss').toString('base64') } };
  const config: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { mode: 'fast' } };
  const ctx = context({ manifests: [secret, config] });

  test('command replaces ENTRYPOINT (and CMD), args replace CMD, $(VAR) expanded, $$ escaped', () => {
    const run = podRun(synthetic({ command: ['sh', '-c'], args: ['echo $(GREETING) $$(GREETING)'], env: [{ name: 'GREETING', value: 'hi' }] }), ctx);
    assert.deepEqual(values(run.args, '--entrypoint'), ['sh']);
    assert.deepEqual(afterImage(run.args, 'app:1'), ['-c', 'echo hi $(GREETING)']);
    assert.deepEqual(afterImage(podRun(synthetic({ args: ['x'] }), ctx).args, 'app:1'), ['x']);
    assert.equal(expandVars('$(UNDEFINED)', {}), '$(UNDEFINED)');
  });

  test('env from Secret and ConfigMap keys, envFrom, field and resource refs, in order', () => {
    const env = resolveEnv(
      synthetic({}),
      {
        name: 'app',
        image: 'app:1',
        resources: { limits: { memory: '256Mi' } },
        envFrom: [{ configMapRef: { name: 'c' }, prefix: 'CFG_' }],
        env: [
          { name: 'PASS', valueFrom: { secretKeyRef: { name: 's', key: 'pass' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'c', key: 'mode' } } },
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } } as never,
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } } as never,
          { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } } as never,
          { name: 'MEMORY_MIB', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } } as never,
          { name: 'URL', value: 'http://$(POD):$(MODE)' },
        ],
      } as never,
      ctx,
    );
    assert.deepEqual(env, { CFG_mode: 'fast', PASS: 'p@ss', MODE: 'fast', POD: 'app', IP: '10.240.1.10', TIER: 'web', MEMORY_MIB: '256', URL: 'http://app:fast' });
  });

  test('an emptyDir in memory is a tmpfs; a kind the runner does not know is refused', () => {
    const memory = podRun(synthetic({ volumeMounts: [{ name: 'm', mountPath: '/cache' }] }, { volumes: [{ name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }] }), ctx);
    assert.deepEqual(values(memory.args, '--tmpfs'), [`/cache:rw,mode=1777,size=${64 * 2 ** 20}`]);
    assert.throws(() => podRun(synthetic({ volumeMounts: [{ name: 'h', mountPath: '/h' }] }, { volumes: [{ name: 'h', hostPath: { path: '/' } }] }), ctx), /Unsupported/);
    assert.throws(() => podRun(synthetic({}, { enableServiceLinks: true }), ctx), /enableServiceLinks/);
  });

  test('quantities', () => {
    assert.deepEqual(['500m', '2', '384Mi', '1Gi', '1k'].map(quantity), [0.5, 2, 384 * 2 ** 20, 2 ** 30, 1000]);
    assert.throws(() => quantity('lots'), /InvalidQuantity/);
  });
});

describe('deliberate breaks the runner refuses, as a kubelet would', () => {
  const change = (kind: string, name: string, edit: (m: any) => void) => {
    const copy = structuredClone(manifests);
    edit(copy.find((m) => m.kind === kind && m.metadata.name === name));
    return copy;
  };

  test('env wiring: AMQP_URL from a key the Secret does not have', () => {
    const broken = change('Deployment', 'accountservice', (m) => {
      m.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'AMQP_URL').valueFrom.secretKeyRef.key = 'uri';
    });
    assert.throws(() => podRun(pod(broken, 'accountservice'), context({ manifests: broken })), /CreateContainerConfigError: couldn't find key uri in Secret landscape-amqp/);
    const missing = change('Secret', 'landscape-amqp', (m) => (m.metadata.name = 'other'));
    assert.throws(() => podRun(pod(missing, 'accountservice'), context({ manifests: missing })), /secret "landscape-amqp" not found/);
  });

  test('Service selector: picking no pod, or a pod listening on another port', () => {
    assert.deepEqual(servicesWithoutPods(manifests), []);
    const none = change('Service', 'quotes-service', (m) => (m.spec.selector['app.kubernetes.io/name'] = 'quotes'));
    assert.deepEqual(servicesWithoutPods(none), ['quotes-service']);
    assert.deepEqual(values(podRun(pod(none, 'quotes-service'), context({ manifests: none })).args, '--network-alias'), [], 'no name answers with the pod');
    const wrong = change('Service', 'quotes-service', (m) => (m.spec.selector['app.kubernetes.io/name'] = 'imageservice'));
    assert.throws(() => podRun(pod(wrong, 'imageservice'), context({ manifests: wrong })), /quotes-service maps port 8080/);
  });

  test('security: root under runAsNonRoot, or an image whose user cannot be verified', () => {
    const root = change('Deployment', 'accountservice', (m) => (m.spec.template.spec.securityContext.runAsUser = 0));
    assert.throws(() => podRun(pod(root, 'accountservice'), context({ manifests: root })), /runAsUser breaks non-root policy/);
    const unset = change('Deployment', 'accountservice', (m) => delete m.spec.template.spec.securityContext.runAsUser);
    assert.throws(() => podRun(pod(unset, 'accountservice'), context({ manifests: unset, image: { user: 'deno', entrypoint: null, cmd: null } })), /non-numeric user \(deno\)/);
    assert.throws(() => podRun(pod(unset, 'accountservice'), context({ manifests: unset, image: { user: '', entrypoint: null, cmd: null } })), /non-numeric user \(root\)/);
  });
});

describe('the edge from the Ingress', () => {
  test('TLS with the Ingress Secret, its host, each path to its Service: Exact, and Prefix by whole elements', () => {
    const { config, tlsSecret, host } = nginxConfig(manifests);
    assert.equal(tlsSecret, 'landscape-edge-tls');
    assert.equal(host, 'shop.example.com');
    assert.match(config, /server_name shop\.example\.com;/);
    const expected: [string, string][] = [
      ['= /api/accounts', 'accountservice:6767'],
      ['/api/accounts/', 'accountservice:6767'],
      ['= /file', 'imageservice:7777'],
      ['/file/', 'imageservice:7777'],
      ['= /placeholder.jpg', 'accountservice:6767'],
    ];
    for (const [match, target] of expected) {
      assert.match(config, new RegExp(`location ${match.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\{\\n\\s+proxy_pass http://${target};`), match);
    }
    assert.doesNotMatch(config, /location \/placeholder\.jpg\//, 'Exact matches no path below it');
    assert.match(config, /location \/ \{ return 404; \}/, 'what the Ingress does not route is not found');
  });
});
