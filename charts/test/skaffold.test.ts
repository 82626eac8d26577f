/**
 * skaffold.yaml: valid for its schema (skaffold/v4beta14), and consistent with what it builds
 * and deploys: the Dockerfiles, the chart's values, the Services it forwards, and the dev
 * profile's hot reload.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { imageStages, skaffoldConfig, type SkaffoldConfig } from './build.ts';
import { find, OUR_SERVICES, render, repoRoot, type Values } from './render.ts';
import { pod, services } from './topology.ts';

type Config = SkaffoldConfig;
const config = skaffoldConfig();
const release = config.deploy.helm.releases[0]!;
const schemaPath = join(repoRoot, '..', 'shared', 'specs', 'skaffold-v4beta14.json');

test('skaffold.yaml is valid for the skaffold/v4beta14 schema', { skip: !existsSync(schemaPath) && `${schemaPath} is missing` }, () => {
  assert.equal(config.apiVersion, 'skaffold/v4beta14');
  // The schema carries Skaffold's own annotations (preferredOrder, x-intellij-*).
  const validate = new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);
  assert.ok(validate(config), new Ajv().errorsText(validate.errors));
});

describe('build', () => {
  test('one artifact per service, all from the one Dockerfile with the repository as context', () => {
    assert.deepEqual(config.build.artifacts.map((a) => a.image).sort(), [...OUR_SERVICES].sort());
    for (const artifact of config.build.artifacts) {
      assert.equal(artifact.context, '.');
      assert.equal(artifact.docker.dockerfile, 'Dockerfile');
      assert.equal(artifact.docker.buildArgs?.SERVICE, artifact.image, `${artifact.image} builds its own service`);
    }
    assert.ok(existsSync(join(repoRoot, 'Dockerfile')));
  });

  test('TypeScript sources sync into the image where the Dockerfile put them', () => {
    for (const artifact of config.build.artifacts) {
      const rules = artifact.sync?.manual ?? [];
      assert.deepEqual(rules.map((r) => r.src).sort(), ['lib/**/*.ts', 'services/**/*.ts']);
      const stages = imageStages(artifact.image);
      const copies = stages.flatMap((s) => s.copies).filter((c) => !c.from);
      const runs = stages.flatMap((s) => s.runs);
      for (const rule of rules) {
        const folder = rule.src.split('/')[0]!;
        const source = folder === 'services' ? `services/${artifact.image}` : folder;
        const copy = copies.find((c) => c.sources.includes(source));
        assert.equal(copy?.dest, `${rule.dest}/${source}`, `${artifact.image}: ${source} lands where ${rule.src} syncs to`);
        // The deno user's, and group 0's as the owner's for the arbitrary user OpenShift runs it as.
        assert.equal(copy?.chown, `${stages.at(-1)!.user!.split(':')[0]}:0`, `${artifact.image}: ${source} is the image user's, in group 0`);
        assert.ok(runs.some((run) => run.includes(`chmod -R g=u`) && new RegExp(`g=u\\b.*"?${source}"?`).test(run)), `${artifact.image}: ${source} is writable for group 0 as for its owner`);
      }
    }
  });
});

describe('deploy', () => {
  test('Helm installs charts/landscape with its packaged dependencies', () => {
    assert.equal(release.chartPath, 'charts/landscape');
    assert.equal(release.skipBuildDependencies, true);
    assert.ok(existsSync(join(repoRoot, release.chartPath, 'Chart.lock')));
  });

  test('every built image is set in the chart, and lands in its Deployment', () => {
    const values: Record<string, unknown> = {};
    for (const artifact of config.build.artifacts) {
      // Skaffold's template names replace "-" (and "/", ".") with "_".
      const variable = artifact.image.replace(/[-/.]/g, '_');
      assert.equal(release.setValueTemplates[`services.${artifact.image}.image.repository`], `{{.IMAGE_REPO_${variable}}}`);
      assert.equal(release.setValueTemplates[`services.${artifact.image}.image.tag`], `{{.IMAGE_TAG_${variable}}}`);
      values[artifact.image] = { image: { repository: `registry.local/${artifact.image}`, tag: 'abc123' } };
    }
    const manifests = render({ services: values });
    for (const name of OUR_SERVICES) {
      assert.equal(pod(manifests, name).spec.containers[0]!.image, `registry.local/${name}:abc123`);
    }
  });

  test('port forwards name rendered Services and ports, and the edge controller', () => {
    const manifests = render({});
    for (const forward of config.portForward) {
      assert.equal(forward.resourceType, 'service');
      if (forward.namespace) {
        assert.deepEqual([forward.resourceName, forward.port], ['traefik', 443], 'the only outside Service is the edge');
        continue;
      }
      const service = services(manifests).find((s) => s.metadata.name === forward.resourceName);
      assert.ok(service?.spec.ports.some((p) => p.port === forward.port), `Service ${forward.resourceName}:${forward.port} is rendered`);
    }
    assert.ok(config.portForward.some((f) => f.resourceName === 'zipkin' && f.localPort === 9411));
  });
});

/** A profile's JSON patches applied to a copy of the config (replace on existing paths only). */
function applyProfile(name: string): Config {
  const profile = config.profiles.find((p) => p.name === name)!;
  const patched = structuredClone(config);
  for (const patch of profile.patches) {
    assert.equal(patch.op, 'replace');
    const keys = patch.path.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    const parent = keys.reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, patched as never);
    assert.ok(parent && last in parent, `${name}: ${patch.path} exists`);
    parent[last] = patch.value;
  }
  return patched;
}

/** `--set a.b=c` pairs as nested values. */
function setValues(pairs: Record<string, string>): Values {
  const values: Values = {};
  for (const [path, raw] of Object.entries(pairs)) {
    const keys = path.split('.');
    const last = keys.pop()!;
    const node = keys.reduce<Values>((n, key) => (n[key] ??= {}) as Values, values);
    node[last] = raw === 'true' ? true : raw === 'false' ? false : raw;
  }
  return values;
}

describe('dev versus production', () => {
  test('`skaffold dev` activates hot reload; `skaffold run` does not', () => {
    const hotReload = config.profiles.find((p) => p.name === 'hot-reload')!;
    assert.deepEqual(hotReload.activation, [{ command: 'dev' }]);
    assert.equal(release.setValues['dev.watch'], 'false');
    assert.equal(applyProfile('hot-reload').deploy.helm.releases[0]!.setValues['dev.watch'], 'true');
  });

  test('dev runs Deno with --watch on a writable root; production runs the image command read-only', () => {
    const production = render(setValues(release.setValues));
    const dev = render(setValues(applyProfile('hot-reload').deploy.helm.releases[0]!.setValues));
    for (const name of OUR_SERVICES) {
      const prod = pod(production, name).spec.containers[0]!;
      assert.equal(prod.args, undefined, `${name}: production keeps the image's CMD`);
      assert.equal(prod.securityContext?.readOnlyRootFilesystem, true);
      const watched = pod(dev, name).spec.containers[0]!;
      const image = imageStages(name).at(-1)!;
      assert.deepEqual(watched.args, ['--watch', image.cmd![0]], `${name}: the image's command, watched`);
      assert.equal(watched.securityContext?.readOnlyRootFilesystem, false, `${name}: the sync can write`);
    }
  });

  test('the k3s profile forwards the Traefik that k3s bundles, on k3d, Rancher Desktop and plain k3s', () => {
    const edge = applyProfile('k3s').portForward.find((f) => f.resourceName === 'traefik')!;
    assert.equal(edge.namespace, 'kube-system');
    assert.ok(find(render({}), 'Ingress', 'accountservice'));
    // Skaffold matches kubeContext as an unanchored regular expression.
    const activates = (context: string) =>
      config.profiles.find((p) => p.name === 'k3s')!.activation!.some((a) => a.kubeContext && new RegExp(a.kubeContext).test(context));
    for (const context of ['k3d-landscape', 'rancher-desktop', 'default']) assert.ok(activates(context), context);
    for (const context of ['kind-kind', 'minikube', 'docker-desktop', 'my-default-cluster']) assert.ok(!activates(context), context);
  });

  test('the k3s profile moves only the port forward; the README says how images reach each cluster it activates on', () => {
    const k3s = config.profiles.find((p) => p.name === 'k3s')!;
    for (const patch of k3s.patches) assert.match(patch.path, /^\/portForward\//, 'no build setting that works on some of them only');
    const readme = readFileSync(join(repoRoot, 'charts', 'README.md'), 'utf8');
    const need = readme.slice(readme.indexOf('## What you need'), readme.indexOf('## 1.'));
    // Skaffold loads images only into the clusters it takes for local (kind-*, k3d-*, minikube, docker-desktop).
    assert.match(need, /\| kind, k3d, minikube, Docker Desktop \| nothing to do \|/);
    assert.match(need, /\| Rancher Desktop, container engine `dockerd \(moby\)` \|.*`skaffold config set --kube-context rancher-desktop local-cluster true`/);
    assert.match(need, /\| Rancher Desktop with `containerd`, k3s \|.*`skaffold dev --default-repo <registry>`/);
  });

  test("links in answers point at the edge's port forward", () => {
    const edge = config.portForward.find((f) => f.resourceName === 'traefik')!;
    const manifests = render(setValues(release.setValues));
    for (const name of ['accountservice', 'imageservice']) {
      const env = pod(manifests, name).spec.containers[0]!.env ?? [];
      assert.equal(env.find((e) => e.name === 'PUBLIC_URL')?.value, `https://localhost:${edge.localPort}`, name);
    }
  });
});
