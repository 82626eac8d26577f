/**
 * `npm run test:containers`: the chart's pods run for real on Docker, as a cluster would run
 * them, and used as a user would — not part of `npm test`, which needs no engine.
 *
 *  1. the engine (installed and started when absent) and the base images (stand-ins only when
 *     they cannot be pulled: stand-ins.ts);
 *  2. the four images built from the Dockerfile with skaffold.yaml's contexts and build arguments;
 *  3. charts/landscape rendered with them; every pod run as rendered (pod-run.ts, kubelet.ts),
 *     probes polled as rendered; the edge (nginx) from the Ingress, with its TLS certificate;
 *  4. GET /api/accounts/10000 through the edge, then the image link in the answer, and
 *     /placeholder.jpg routed to accountservice; the whole trace in the collector; no probe span;
 *  5. each container's working set against its limit, idle and while imageservice tones the
 *     largest image its settings admit; each pod stopped with its grace period, exiting 0;
 *  6. dev mode (`dev.watch`): a changed source copied into the running container as Skaffold's
 *     sync does, the service restarting on it with its data intact;
 *  7. accountservice as OpenShift's restricted-v2 SCC runs it (the chart rendered for it, a user
 *     of the namespace's range in group 0): on a volume of its fsGroup, without any volume (the
 *     image's own /data and DENO_DIR), and on a group-0 volume another such user wrote;
 *  8. one deliberate break of each kind the check must catch: a Dockerfile, a probe path, an env
 *     wiring, a Service selector, a security setting.
 *
 * Prints a summary; exits 1 on the first failure, or when it runs past its time bound.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { assertOwnAccountTrace, isCompleteAccountTrace, waitForTrace } from '../../e2e/traces.ts';
import { until } from '../../tools/wait.ts';
import { repoRoot, type Manifest, type Values } from '../test/render.ts';
import { environment, pod as podOf } from '../test/topology.ts';
import { readJpegFrame } from '../../services/imageservice/jpeg-frame.ts';
import { makeJpeg } from '../../services/imageservice/test-jpegs.ts';
import { DOCKER, docker, ensureEngine } from './engine.ts';
import { ContainerRun, merge, NOT_RUN } from './landscape.ts';
import { quantity } from './pod-run.ts';
import { containerPid, sampleWorkingSets, workingSetBytes } from './working-set.ts';

const TIME_BOUND_MS = 15 * 60_000;
const OUR_PODS = ['accountservice', 'imageservice', 'quotes-service', 'vipservice'];

const started = performance.now();
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
const log = (line: string) => console.error(`[${seconds(started).padStart(6)} s] ${line}`);
const summary: { step: string; ok: boolean; seconds: string; detail: string }[] = [];

/** Runs one step of the check, recording its time and what it found. */
async function step(name: string, run: () => Promise<string>): Promise<void> {
  const at = performance.now();
  log(`${name} ...`);
  try {
    const detail = await run();
    summary.push({ step: name, ok: true, seconds: seconds(at), detail });
  } catch (error) {
    summary.push({ step: name, ok: false, seconds: seconds(at), detail: (error as Error).message });
    throw error;
  }
}

function printSummary(failed: boolean): void {
  const width = Math.max(...summary.map((s) => s.step.length));
  console.log(`\nContainer check: ${failed ? 'FAILED' : 'passed'} in ${seconds(started)} s`);
  for (const { step: name, ok, seconds: s, detail } of summary) {
    console.log(`${ok ? '✓' : '✗'} ${name.padEnd(width)} ${s.padStart(6)} s  ${detail.split('\n').join('\n' + ' '.repeat(width + 13))}`);
  }
}

interface EdgeResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** GET through the edge with curl, as a user outside would: the edge's host name, its certificate verified. */
function edgeGet(edge: { ip: string; host: string; caCert: string }, path: string, dir: string): Promise<EdgeResponse> {
  const bodyFile = join(dir, 'body');
  const headerFile = join(dir, 'headers');
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '20', '--cacert', edge.caCert, '--connect-to', `${edge.host}:443:${edge.ip}:443`, '-o', bodyFile, '-D', headerFile, '-w', '%{http_code}', `https://${edge.host}${path}`],
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`curl https://${edge.host}${path}: ${stderr || error.message}`));
        const headers = Object.fromEntries(
          readFileSync(headerFile, 'utf8')
            .split('\r\n')
            .slice(1)
            .filter((line) => line.includes(':'))
            .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
        );
        resolve({ status: Number(stdout), headers, body: readFileSync(bodyFile) });
      },
    );
  });
}

const traceIdIn = (response: EdgeResponse) => {
  const match = /^00-([0-9a-f]{32})-/.exec(response.headers.traceresponse ?? '');
  assert.ok(match, `a traceresponse header, got ${JSON.stringify(response.headers.traceresponse)}`);
  return match[1]!;
};

/** Expects `attempt` to fail with a message matching `expected`; says what caught it. */
async function mustFail(attempt: () => Promise<unknown>, expected: RegExp): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    const message = (error as Error).message;
    assert.match(message, expected);
    return message.split('\n')[0]!;
  }
  throw new Error('the break went unnoticed');
}

/** A deep copy of the manifests with `change` applied to the pod template or Service named. */
function broken(manifests: Manifest[], kind: 'Deployment' | 'Service', name: string, change: (spec: any) => void): Manifest[] {
  const copy = structuredClone(manifests);
  const target = copy.find((m) => m.kind === kind && m.metadata.name === name)!;
  change(kind === 'Deployment' ? (target.spec as any).template.spec : target.spec);
  return copy;
}

const run = new ContainerRun(log);
const scratch = mkdtempSync(join(run.volumesDir, 'scratch-'));
const bound = setTimeout(() => {
  log(`the check ran past its bound of ${TIME_BOUND_MS / 60_000} min`);
  void run.close().finally(() => process.exit(1));
}, TIME_BOUND_MS);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void run.close().finally(() => process.exit(130)));

let failed = false;
try {
  await step('engine', async () => {
    await ensureEngine(log);
    const { stdout } = await docker(['version', '--format', '{{.Server.Version}}']);
    return `Docker ${stdout.trim()} (${DOCKER}, BuildKit)`;
  });

  await step('base images', async () => (await run.ensureBaseImages()).map((i) => `${i.reference} (${i.source})`).join(', '));

  await step('build', async () => {
    const built = await run.buildImages();
    return built.map((b) => `${b.image} ${b.seconds.toFixed(1)} s`).join(', ');
  });

  const manifests = run.render();
  let runs: Awaited<ReturnType<typeof run.plan>> = [];
  await step('pods ready', async () => {
    runs = await run.plan(manifests);
    await run.startPods(runs);
    const skipped = Object.entries(NOT_RUN).map(([name, why]) => `${name} (${why})`);
    return `${runs.map((r) => r.pod).join(', ')} ready, probes as rendered; not run: ${skipped.join('; ')}`;
  });
  const zipkin = runs.find((r) => r.aliases.includes('zipkin'))!;
  const zipkinUrl = `http://${zipkin.ip}:9411`;
  let edge!: Awaited<ReturnType<typeof run.startEdge>>;
  await step('edge', async () => {
    edge = await run.startEdge(manifests);
    // nginx starts listening a moment after its container does.
    await until(() => edgeGet(edge, '/', scratch).then(() => true, () => false), 30_000, 'the edge to accept connections', 200);
    return `nginx from the rendered Ingress at https://${edge.host}, with the chart's certificate`;
  });

  let accountTrace = '';
  await step('account through the edge', async () => {
    const response = await edgeGet(edge, '/api/accounts/10000', scratch);
    assert.equal(response.status, 200, response.body.toString());
    const account = JSON.parse(response.body.toString()) as { id: string; quote: { ipAddress: string }; imageData: { url: string; servedBy: string } };
    assert.equal(account.id, '10000');
    assert.notEqual(account.quote.ipAddress, 'circuit-breaker', 'the quote came from quotes-service');
    assert.notEqual(account.imageData.servedBy, 'fallback', 'the image URL came from imageservice');
    accountTrace = traceIdIn(response);
    const link = new URL(account.imageData.url);
    assert.equal(link.origin, `https://${edge.host}`, "the image link names the edge's public address (PUBLIC_URL)");
    const image = await edgeGet(edge, link.pathname, scratch);
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/jpeg');
    assert.deepEqual([...image.body.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
    return `https://${edge.host}/api/accounts/10000 → 200; its image link ${link.pathname} → 200 image/jpeg (${image.body.length} bytes)`;
  });

  await step('placeholder link routed', async () => {
    const response = await edgeGet(edge, '/placeholder.jpg', scratch);
    const spans = await waitForTrace(zipkinUrl, traceIdIn(response), (s) => s.length > 0);
    assert.deepEqual([...new Set(spans.map((s) => s.localEndpoint?.serviceName))], ['accountservice']);
    return `https://${edge.host}/placeholder.jpg → accountservice (${response.status} ${response.headers['content-type'] ?? ''})`;
  });

  await step('trace', async () => {
    const spans = await waitForTrace(zipkinUrl, accountTrace, (s) => isCompleteAccountTrace(s, true), 30_000);
    assertOwnAccountTrace(spans, '10000', '/api/accounts/10000');
    const names = [...new Set(spans.map((s) => s.localEndpoint?.serviceName))].sort();
    return `${spans.length} spans across ${names.join(', ')} in trace ${accountTrace}`;
  });

  await step('probes stay out of traces', async () => {
    const probed = runs.filter((r) => OUR_PODS.includes(r.pod)).map((r) => run.kubelet.pods.get(r.pod)!.probed);
    const count = probed.reduce((sum, p) => sum + p.startup + p.readiness + p.liveness, 0);
    assert.ok(count >= OUR_PODS.length * 2, `probed ${count} times`);
    for (const name of OUR_PODS) {
      const spanNames = (await (await fetch(`${zipkinUrl}/api/v2/spans?serviceName=${name}`)).json()) as string[];
      assert.deepEqual(spanNames.filter((span) => span.includes('/health')), [], `${name} reported a probe span`);
    }
    return `${count} probe requests to our services, no span of them in the collector`;
  });

  await step('working sets', async () => {
    const lines = [];
    for (const r of runs.filter((r) => OUR_PODS.includes(r.pod))) {
      const bytes = workingSetBytes(await containerPid(r.container));
      const limit = quantity(podOf(manifests, r.pod).spec.containers[0]!.resources!.limits!.memory!);
      assert.ok(bytes < limit, `${r.pod}: working set ${bytes} under its limit ${limit}`);
      lines.push(`${r.pod} ${(bytes / 2 ** 20).toFixed(0)} of ${(limit / 2 ** 20).toFixed(0)} MiB`);
    }
    return `idle: ${lines.join(', ')}`;
  });

  await step('largest image under the memory limit', async () => {
    const r = runs.find((r) => r.pod === 'imageservice')!;
    const container = podOf(manifests, 'imageservice').spec.containers[0]!;
    const maxPixels = Number(environment(manifests, container).IMAGE_MAX_PIXELS);
    const limit = quantity(container.resources!.limits!.memory!);
    // 4:3, as a camera takes it: the widest such image within the limit, and one row more.
    const height = Math.floor(Math.sqrt((maxPixels * 3) / 4));
    const width = Math.floor(maxPixels / height);
    const [atLimit, overLimit] = [makeJpeg(width, height), makeJpeg(width, height + 1)];
    const upload = (body: Uint8Array<ArrayBuffer>) =>
      fetch(`http://${r.ip}:7777/image`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body });
    const sampling = sampleWorkingSets({ imageservice: await containerPid(r.container) }, 100);
    const toned = await upload(atLimit);
    const peak = Math.max(...sampling.stop().imageservice!);
    assert.equal(toned.status, 200, await toned.clone().text());
    assert.equal(readJpegFrame(new Uint8Array(await toned.arrayBuffer())).width, width);
    assert.ok(peak < limit, `working set ${peak} while toning, under the limit ${limit}`);
    const over = await upload(overLimit);
    assert.equal(over.status, 413);
    assert.match(((await over.json()) as { error: string }).error, new RegExp(`over the limit of ${maxPixels} pixels`));
    const { stdout } = await docker(['inspect', '--format', '{{.RestartCount}} {{.State.OOMKilled}}', r.container]);
    assert.equal(stdout.trim(), '0 false', 'never restarted, never killed for memory');
    return `${width}×${height} (IMAGE_MAX_PIXELS ${maxPixels}) toned at a working set of ${(peak / 2 ** 20).toFixed(0)} of ${(limit / 2 ** 20).toFixed(0)} MiB; a row more → 413`;
  });

  await step('graceful stop', async () => {
    const stopped = await Promise.all(runs.map(async (r) => ({ pod: r.pod, ...(await run.kubelet.stop(r.pod)) })));
    const unclean = stopped.filter((s) => s.exitCode !== 0);
    assert.deepEqual(unclean.map((s) => `${s.pod} exited ${s.exitCode} after ${s.seconds.toFixed(1)} s${s.log}`), []);
    return stopped.map((s) => `${s.pod} 0 in ${s.seconds.toFixed(1)} s`).join(', ');
  });

  await step('dev mode: sync and restart', async () => {
    const dev = run.render({ dev: { watch: true } });
    const [account] = await run.plan(dev, ['accountservice']);
    await run.startPods([account!]);
    const url = `http://${account!.ip}:6767/accounts/10000`;
    assert.equal((await fetch(url)).status, 200);
    const seeded = () => run.kubelet.logs(account!.pod);
    assert.match(await seeded(), /"msg":"accounts ready".*"added":100/);
    // Skaffold's sync: a tar of the changed files, extracted in the container as its user.
    const file = 'app/services/accountservice/main.ts';
    const marker = `// synced by the container check ${run.runId}`;
    mkdirSync(join(scratch, 'app', 'services', 'accountservice'), { recursive: true });
    writeFileSync(join(scratch, file), `${readFileSync(join(repoRoot, 'services', 'accountservice', 'main.ts'), 'utf8')}\n${marker}\n`);
    const tar = await new Promise<Buffer>((resolve, reject) =>
      execFile('tar', ['-C', scratch, '-cf', '-', file], { encoding: 'buffer' }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    await docker(['exec', '-i', account!.container, 'tar', '-x', '-m', '--no-same-owner', '-f', '-', '-C', '/'], { input: tar });
    await until(async () => ((await seeded()).match(/"msg":"accounts ready"/g) ?? []).length >= 2, 30_000, 'accountservice to restart on the synced file', 250);
    assert.match(await seeded(), /"msg":"accounts ready".*"added":0/, 'the restarted service found its data');
    await until(async () => (await fetch(url).then((r) => r.status, () => 0)) === 200, 30_000, 'accountservice to answer again', 250);
    const { stdout } = await docker(['exec', account!.container, 'tail', '-n', '1', `/${file}`]);
    assert.equal(stdout.trim(), marker);
    // Deno --watch waits for the next change after the service stops: the dev pod's short grace period ends it.
    const stop = await run.kubelet.stop(account!.pod);
    assert.ok(stop.seconds <= account!.gracePeriodSeconds + 3, `stopped after ${stop.seconds} s`);
    assert.match(stop.log, /"msg":"stopped"/, 'the service stopped itself before the grace period ran out');
    return `services/accountservice/main.ts synced → Deno restarted it; seeded accounts kept (added 0); stopped (service) then ended after its ${account!.gracePeriodSeconds} s grace period`;
  });

  await step("an arbitrary user in group 0 (OpenShift's restricted-v2 SCC): a volume with fsGroup, the image's own /data, a volume another user of group 0 wrote", async () => {
    const lines: string[] = [];
    const account = (set: Manifest[]) => run.plan(set, ['accountservice']).then(([planned]) => planned!);
    /** Starts accountservice, asks the VIP account (a read and an outbox write), checks who it runs as and that its writes work, stops it. */
    const serve = async (planned: Awaited<ReturnType<typeof account>>, user: string) => {
      let added: string | undefined;
      try {
        await run.startPods([planned]);
        const answered = await fetch(`http://${planned.ip}:6767/accounts/10000`);
        assert.equal(answered.status, 200, await answered.clone().text());
        const ready = await fetch(`http://${planned.ip}:6767/health/ready`);
        assert.equal(ready.status, 200, `its LMDB writes work: ${await ready.clone().text()}`);
        const ids = await docker(['exec', planned.container, 'sh', '-c', 'echo "$(id -u):$(id -g)"']);
        assert.equal(ids.stdout.trim(), user, 'the user and group the runtime gives the assigned user');
        const log = await run.kubelet.logs(planned.pod);
        assert.doesNotMatch(log, /LMDB writes fail|VIP notification not recorded/);
        added = /"msg":"accounts ready".*"added":(\d+)/.exec(log)?.[1];
      } catch (error) {
        await run.kubelet.stop(planned.pod).catch(() => undefined);
        throw error;
      }
      const stopped = await run.kubelet.stop(planned.pod);
      assert.equal(stopped.exitCode, 0, stopped.log);
      return added;
    };
    // The release as rendered for OpenShift: no IDs of the chart's. What restricted-v2's admission
    // then writes into the pod: a user from the namespace's range on the container, the pod's
    // fsGroup from its supplemental groups; the runtime gives a user the image does not name group 0.
    const admitted = (values: Values, uid: number, change: (spec: any) => void = () => undefined) =>
      broken(run.render(merge({ global: { podSecurity: { assignIds: 'cluster' } } }, values)), 'Deployment', 'accountservice', (spec) => {
        assert.equal(spec.securityContext.runAsUser, undefined, 'the chart leaves the user to the cluster');
        spec.securityContext.fsGroup = 1000680000;
        spec.containers[0].securityContext.runAsUser = uid;
        change(spec);
      });

    // 1. A claim the kubelet makes the fsGroup's (a block or CSI volume).
    const withClaim = await account(admitted({ services: { accountservice: { data: { existingClaim: 'account-data' } } } }, 1000680000));
    await serve(withClaim, '1000680000:0');
    lines.push('uid 1000680000 gid 0 on a claim of its fsGroup: ready, account 200, writes work, stopped 0');

    // 2. No volume at all, as `docker run --user` would: the image's own /data, DENO_DIR and /tmp,
    // on a writable root file system.
    const bare = await account(
      admitted({}, 1000680000, (spec) => {
        delete spec.containers[0].volumeMounts;
        delete spec.volumes;
        spec.containers[0].securityContext.readOnlyRootFilesystem = false;
      }),
    );
    assert.deepEqual(bare.volumeDirs, [], 'no volume');
    try {
      await run.startPods([bare]);
      const answered = await fetch(`http://${bare.ip}:6767/accounts/10000`);
      assert.equal(answered.status, 200, await answered.clone().text());
      assert.equal((await fetch(`http://${bare.ip}:6767/health/ready`)).status, 200);
      const { stdout } = await docker(['exec', bare.container, 'sh', '-c', 'stat -c "%n %u:%g %a" /data /data/data.mdb /data/lock.mdb && touch "${DENO_DIR%/}/written" && stat -c "%n %u:%g" "${DENO_DIR%/}/written"']);
      assert.deepEqual(stdout.trim().split('\n'), [
        '/data 1993:0 2775',
        '/data/data.mdb 1000680000:0 664',
        '/data/lock.mdb 1000680000:0 664',
        '/deno-dir/written 1000680000:0',
      ]);
      assert.doesNotMatch(await run.kubelet.logs(bare.pod), /LMDB writes fail|VIP notification not recorded/);
    } finally {
      await run.kubelet.stop(bare.pod).catch(() => undefined);
    }
    lines.push("no volume: the image's /data (group 0, setgid) takes LMDB's files as 664 of 1000680000:0; DENO_DIR writable");

    // 3. A volume whose ownership the kubelet leaves alone (NFS, say): group 0's, group-writable,
    // written first by one assigned user and then opened by another of group 0, as after the
    // namespace's range changed or the volume moved to another namespace.
    const shared = { services: { accountservice: { data: { existingClaim: 'shared-data' } } } };
    const groupZeroVolume = (planned: Awaited<ReturnType<typeof account>>) => {
      for (const dir of planned.volumeDirs.filter((d) => d.path.includes('/claims/'))) Object.assign(dir, { uid: 0, gid: 0, mode: 0o2775 });
      return planned;
    };
    const first = await serve(groupZeroVolume(await account(admitted(shared, 1000680000))), '1000680000:0');
    assert.equal(first, '100', 'the first user seeded the accounts');
    const claim = join(run.volumesDir, 'claims', 'shared-data');
    const owners = ['data.mdb', 'lock.mdb'].map((file) => {
      const stat = statSync(join(claim, file));
      return `${file} ${stat.uid}:${stat.gid} ${(stat.mode & 0o777).toString(8)}`;
    });
    assert.deepEqual(owners, ['data.mdb 1000680000:0 664', 'lock.mdb 1000680000:0 664'], "LMDB's files stay group-writable (umask 002)");
    const second = await serve(groupZeroVolume(await account(admitted(shared, 1000690000))), '1000690000:0');
    assert.equal(second, '0', 'the second user found the accounts the first wrote');
    lines.push(`a group-0 volume without fsGroup: written by uid 1000680000 (${owners.join(', ')}), then opened and written by uid 1000690000`);

    // The same claim, now owned by another user, mounted without an fsGroup: one line says what to do.
    const foreign = broken(run.render({ services: { accountservice: { data: { existingClaim: 'account-data' } } } }), 'Deployment', 'accountservice', (spec) => delete spec.securityContext.fsGroup);
    const [refused] = await run.plan(foreign, ['accountservice']);
    for (const dir of refused!.volumeDirs.filter((d) => d.path.includes('/claims/'))) Object.assign(dir, { uid: 4242, gid: 4242, mode: 0o755 });
    let caught = '';
    try {
      caught = await mustFail(() => run.startPods([refused!], 60_000), /exited with code 1/);
      const line = (await run.kubelet.logs(refused!.pod)).split('\n').find((l) => l.includes('"bad configuration"')) ?? '';
      const logged = JSON.parse(line) as { variable: string; error: string };
      assert.equal(logged.variable, 'DATA_DIR');
      assert.match(logged.error, /owned by uid 4242 gid 4242 with mode 755, this process runs as uid 1993 in groups 1993.*securityContext\.fsGroup/);
    } finally {
      await run.kubelet.stop(refused!.pod).catch(() => undefined);
    }
    lines.push(`a claim of uid 4242 without fsGroup: ${caught}, its line names the owner and fsGroup`);
    return lines.join('\n');
  });

  await step('deliberate breaks are caught', async () => {
    const caught: string[] = [];
    // A Dockerfile that leaves out a permission the service needs.
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').replace('"--allow-env", ', '');
    writeFileSync(join(scratch, 'Dockerfile.broken'), dockerfile);
    const brokenTag = `landscape-check/quotes-service:${run.runId}-broken`;
    await docker(['build', '--quiet', '--tag', brokenTag, '--file', join(scratch, 'Dockerfile.broken'), '--build-arg', 'SERVICE=quotes-service', '--build-arg', 'PORT=8080', repoRoot]);
    run.images.push({ image: 'quotes-service', tag: brokenTag, seconds: 0 });
    const withBrokenImage = run.render({ services: { 'quotes-service': { image: { repository: brokenTag.split(':')[0], tag: brokenTag.split(':')[1] } } } });
    const startAlone = async (set: Manifest[]) => {
      const [planned] = await run.plan(set, ['quotes-service']);
      try {
        await run.startPods([planned!], 60_000);
      } finally {
        await run.kubelet.stop(planned!.pod).catch(() => undefined);
      }
    };
    caught.push(`Dockerfile without --allow-env: ${await mustFail(() => startAlone(withBrokenImage), /exited with code/)}`);
    // A probe asking a path the service does not serve (its threshold shortened to keep the check quick).
    const wrongProbe = broken(manifests, 'Deployment', 'quotes-service', (spec) => {
      Object.assign(spec.containers[0].startupProbe, { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 2 });
    });
    caught.push(`startup probe on /healthz: ${await mustFail(() => startAlone(wrongProbe), /startup probe failed 2 times: GET \/healthz answered 404/)}`);
    // The broker URL from a Secret key that does not exist.
    const wrongKey = broken(manifests, 'Deployment', 'accountservice', (spec) => {
      spec.containers[0].env.find((e: { name: string }) => e.name === 'AMQP_URL').valueFrom.secretKeyRef.key = 'uri';
    });
    caught.push(`AMQP_URL from a missing Secret key: ${await mustFail(() => run.plan(wrongKey, ['accountservice']), /CreateContainerConfigError: couldn't find key uri/)}`);
    // A Service whose selector picks no pod.
    const wrongSelector = broken(manifests, 'Service', 'quotes-service', (spec) => (spec.selector['app.kubernetes.io/name'] = 'quotes'));
    caught.push(`quotes-service selecting nothing: ${await mustFail(() => run.plan(wrongSelector), /select no pod, whose names would resolve to nothing: quotes-service/)}`);
    // A pod allowed to run as root while it must not.
    const asRoot = broken(manifests, 'Deployment', 'accountservice', (spec) => (spec.securityContext.runAsUser = 0));
    caught.push(`runAsUser 0 under runAsNonRoot: ${await mustFail(() => run.plan(asRoot, ['accountservice']), /breaks non-root policy/)}`);
    return caught.join('\n');
  });
} catch (error) {
  failed = true;
  log(`FAILED: ${(error as Error).stack ?? String(error)}`);
  for (const [name, state] of run.kubelet.pods) {
    if (state.failure || !state.ready) log(`${name} log:\n${(await run.kubelet.logs(name)).split('\n').slice(-30).join('\n')}`);
  }
} finally {
  clearTimeout(bound);
  // The scratch directory goes with the run's volumes.
  await run.close();
  printSummary(failed);
}
process.exit(failed ? 1 : 0);
