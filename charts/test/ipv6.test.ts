/**
 * The release on IPv6-only, dual-stack and IPv4-only clusters: nothing rendered binds IPv4 only,
 * the pods that need their own address get it from status.podIP, the OpenTelemetry collector
 * listens in every family, and RabbitMQ's rabbitmq-env.conf, run by a real shell as the broker's
 * scripts source it, switches Erlang distribution to IPv6 exactly where the pod's address is IPv6.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { find, OUR_SERVICES, RELEASE, render, SCENARIOS, type Manifest } from './render.ts';
import { pod } from './topology.ts';

const rendered = Object.entries(SCENARIOS).map(([name, values]) => [name, render(values)] as const);

type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };

/** The env var of `name` in the first container of the pod of `component`. */
function envVar(manifests: Manifest[], component: string, name: string): EnvVar | undefined {
  const container = pod(manifests, component).spec.containers[0]! as { env?: EnvVar[] };
  return container.env?.find((e) => e.name === name);
}

describe('every scenario', () => {
  for (const [name, manifests] of rendered) {
    test(`${name}: nothing listens on 0.0.0.0 (IPv4 only), and the pods that need their address have it`, () => {
      assert.doesNotMatch(stringify(manifests), /0\.0\.0\.0/);
      const owners = [...OUR_SERVICES, ...(manifests.some((m) => m.kind === 'StatefulSet') ? ['rabbitmq'] : [])];
      const prefix = (SCENARIOS[name]!['global'] as { releasePrefix?: boolean } | undefined)?.releasePrefix ? `${RELEASE}-` : '';
      for (const component of owners) {
        assert.deepEqual(envVar(manifests, prefix + component, 'POD_IP')?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } }, component);
      }
    });
  }
});

test('the OpenTelemetry collector listens without a host: every interface in every family the pod has', () => {
  const config = parse((find(render(), 'ConfigMap', 'otel-collector') as Manifest & { data: Record<string, string> }).data['config.yaml']!) as {
    receivers: { otlp: { protocols: Record<string, { endpoint: string }> } };
    extensions: { health_check: { endpoint: string } };
  };
  assert.deepEqual(config.receivers.otlp.protocols, { grpc: { endpoint: ':4317' }, http: { endpoint: ':4318' } });
  assert.equal(config.extensions.health_check.endpoint, ':13133');
});

describe("RabbitMQ's Erlang distribution follows the pod's address family", () => {
  const manifests = render();
  const statefulSet = find(manifests, 'StatefulSet', 'rabbitmq') as Manifest & {
    spec: { template: { spec: { volumes: Array<{ name: string; configMap?: { name: string } }>; containers: Array<{ volumeMounts: Array<{ name: string; mountPath: string }> }> } } };
  };
  const file = envVar(manifests, 'rabbitmq', 'RABBITMQ_CONF_ENV_FILE')?.value ?? '';
  const podSpec = statefulSet.spec.template.spec;
  const mount = podSpec.containers[0]!.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
  const volume = podSpec.volumes.find((v) => v.name === mount?.name);
  const configMap = find(manifests, 'ConfigMap', volume?.configMap?.name ?? '') as Manifest & { data: Record<string, string> };
  const conf = configMap.data[file.slice(`${mount?.mountPath}/`.length)];

  test('the server and the CLI tools (its liveness probe) both read the file the ConfigMap mounts', () => {
    assert.ok(conf, `${file} is a key of a mounted ConfigMap`);
  });

  /** What RabbitMQ's scripts take from the file, sourced by sh as rabbitmq-env sources it, with `env` as the container's. */
  function sourced(env: Record<string, string>): { server: string; ctl: string } {
    const dir = mkdtempSync(join(tmpdir(), 'rabbitmq-env-'));
    try {
      writeFileSync(join(dir, 'rabbitmq-env.conf'), conf!);
      const script = `set -a; . "${join(dir, 'rabbitmq-env.conf')}"; printf '%s\\n%s\\n' "$RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS" "$RABBITMQ_CTL_ERL_ARGS"`;
      const run = spawnSync('sh', ['-ec', script], { encoding: 'utf8', env: { PATH: process.env['PATH']!, ...env } });
      assert.equal(run.status, 0, run.stderr);
      const [server = '', ctl = ''] = run.stdout.split('\n');
      return { server: server.trim(), ctl: ctl.trim() };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('an IPv6 pod address (IPv6-only, or dual-stack with IPv6 first): inet6_tcp on both sides', () => {
    assert.deepEqual(sourced({ POD_IP: 'fd00:10:244::7' }), { server: '-proto_dist inet6_tcp', ctl: '-proto_dist inet6_tcp' });
  });

  test('an IPv4 pod address, or none: the default, IPv4', () => {
    assert.deepEqual(sourced({ POD_IP: '10.244.0.7' }), { server: '', ctl: '' });
    assert.deepEqual(sourced({}), { server: '', ctl: '' });
  });

  test("keeps arguments an operator gave, after them", () => {
    assert.deepEqual(sourced({ POD_IP: 'fd00::7', RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+S 1:1', RABBITMQ_CTL_ERL_ARGS: '+S 1' }), {
      server: '+S 1:1 -proto_dist inet6_tcp',
      ctl: '+S 1 -proto_dist inet6_tcp',
    });
  });
});
