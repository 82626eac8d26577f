/**
 * Listening on every interface in every address family, for real: quotes-service (no broker, no
 * LMDB) started as a process on Node and on Deno with `HOST=::`, reached over IPv4 and IPv6
 * loopback; on a node without IPv6 (tools/without-ipv6.ts: socket(AF_INET6) fails with
 * EAFNOSUPPORT, as on a kernel booted with ipv6.disable=1); and where `net.ipv6.bindv6only` is 1
 * (a network namespace of its own, where this file runs itself as the probe: see the end).
 * Its spans, received by the local collector over IPv6, carry the pod's address in the field of
 * its family.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import { ROOT, startService, type RunningService, type Runtime } from '../tools/landscape.ts';
import { canConnect } from '../tools/rabbitmq.ts';
import { until } from '../tools/wait.ts';

const DENO = `${ROOT}node_modules/.bin/deno`;
const RUNTIMES: Runtime[] = ['node', 'deno'];
/** Runs a command as on a node booted with IPv6 off. */
const WITHOUT_IPV6 = [DENO, 'run', '--allow-ffi', '--allow-read', '--allow-env', `${ROOT}tools/without-ipv6.ts`];

interface Started {
  service: RunningService;
  lines: Array<Record<string, unknown>>;
}

/** quotes-service on `runtime` with `env`, its JSON log lines collected. */
async function startQuotes(runtime: Runtime, env: Record<string, string>, launcher?: string[]): Promise<Started> {
  const lines: Array<Record<string, unknown>> = [];
  const onLog = (_: string, line: string) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ text: line });
    }
  };
  const service = await startService('quotes-service', { PORT: '0', ZIPKIN_URL: 'http://127.0.0.1:9', ...env }, { runtime, onLog, launcher });
  return { service, lines };
}

/** The status of GET `path` at `host:port` (an IPv6 host in brackets), or the error's code. */
async function statusAt(host: string, port: number, path = '/health/live'): Promise<number | string> {
  try {
    const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    await response.body?.cancel();
    return response.status;
  } catch (error) {
    return String((error as { cause?: { code?: string } }).cause?.code ?? error);
  }
}

/** Whether this machine can run a program as without IPv6 (Linux on x86-64 or arm64, seccomp allowed). */
function canRunWithoutIpv6(): boolean {
  return spawnSync(WITHOUT_IPV6[0]!, [...WITHOUT_IPV6.slice(1), 'true'], { stdio: 'ignore' }).status === 0;
}

/** The arguments that run a command in a network namespace of its own with loopback up and bindv6only=1, or undefined where none can be made. */
function bindv6onlyNamespace(): string[] | undefined {
  const script = 'ip link set lo up && sysctl -qw net.ipv6.bindv6only=1 && exec "$@"';
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', script, 'sh', 'cat', '/proc/sys/net/ipv6/bindv6only'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout.trim() === '1' ? ['unshare', '-rn', 'sh', '-c', script, 'sh'] : undefined;
}

const probing = process.env['DUAL_STACK_PROBE'] as Runtime | undefined;
/** What the probe's report line begins with, among the test runner's own output. */
const PROBE_REPORT = 'dual-stack probe: ';

describe('HOST=:: (every interface)', { skip: probing !== undefined }, () => {
  let collector: RunningCollector;
  const started: RunningService[] = [];
  before(async () => {
    // The collector on IPv6 loopback: ZIPKIN_URL as an IPv6 literal, brackets and all.
    collector = await startCollector({ port: 0, hostname: '::1' });
  });
  after(async () => {
    await Promise.all(started.map((service) => service.stop()));
    await collector?.close();
  });

  for (const runtime of RUNTIMES) {
    it(`on ${runtime}: answers over IPv4 and IPv6 on one port, and its spans carry the pod's IPv6 address in ipv6`, async () => {
      const podIp = '2001:db8::7';
      const { service, lines } = await startQuotes(runtime, { HOST: '::', POD_IP: podIp, ZIPKIN_URL: collector.url, ZIPKIN_EXPORT_INTERVAL_MS: '50' });
      started.push(service);
      assert.equal(service.host, '::');
      assert.equal(await statusAt('127.0.0.1', service.port), 200, 'over IPv4');
      assert.equal(await statusAt('[::1]', service.port), 200, 'over IPv6');
      const quote = (await (await fetch(`http://127.0.0.1:${service.port}/api/quote?strength=0`)).json()) as { ipAddress: string };
      assert.equal(quote.ipAddress, podIp, "the quote names the pod's address");
      assert.ok(!lines.some((line) => line['msg'] === 'no IPv6 on this node: listening on IPv4 only'), 'no fallback where there is IPv6');

      type Span = { localEndpoint?: Record<string, unknown> };
      let spans: Span[] = [];
      await until(
        async () => {
          const response = await fetch(`${collector.url}/api/v2/traces?serviceName=quotes-service&limit=100`);
          spans = ((await response.json()) as Span[][]).flat();
          return spans.length > 0;
        },
        10_000,
        "quotes-service's span at the collector",
      );
      assert.deepEqual(spans[0]!.localEndpoint, { serviceName: 'quotes-service', ipv6: podIp });
    });

    it(`on ${runtime}: HOST=[::] in URL brackets is every interface; a link-local HOST without its zone stops it with one line naming HOST`, async () => {
      const { service } = await startQuotes(runtime, { HOST: '[::]' });
      started.push(service);
      assert.equal(service.host, '::');
      assert.equal(await statusAt('127.0.0.1', service.port), 200, 'over IPv4');
      assert.equal(await statusAt('[::1]', service.port), 200, 'over IPv6');
      const lines: string[] = [];
      await assert.rejects(
        startService('quotes-service', { PORT: '0', HOST: 'fe80::1', ZIPKIN_URL: 'http://127.0.0.1:9' }, { runtime, onLog: (_, line) => lines.push(line) }),
        /exited with code 1 before listening/,
      );
      assert.equal(lines.length, 1, lines.join('\n'));
      const line = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.deepEqual([line['msg'], line['variable']], ['bad configuration', 'HOST']);
      assert.match(String(line['error']), /"fe80::1" cannot be listened on as given \(a link-local IPv6 address needs its interface/);
    });

    it(`on ${runtime}, on a node without IPv6: listens on 0.0.0.0 instead, says so in one line, and serves IPv4`, { skip: !canRunWithoutIpv6() && 'seccomp filters cannot be installed here' }, async () => {
      const { service, lines } = await startQuotes(runtime, { HOST: '::' }, WITHOUT_IPV6);
      started.push(service);
      assert.equal(service.host, '0.0.0.0', 'the listening line names the address it took');
      const fallback = lines.filter((line) => line['msg'] === 'no IPv6 on this node: listening on IPv4 only');
      assert.equal(fallback.length, 1, JSON.stringify(lines));
      assert.equal(fallback[0]!['error'], 'EAFNOSUPPORT');
      assert.equal(fallback[0]!['requested'], '::');
      assert.equal(await statusAt('127.0.0.1', service.port), 200);
      assert.equal(await canConnect('::1', service.port), false, 'nothing on IPv6');
    });

    it(`on ${runtime}, on a node without IPv6: HOST=::1 stops it with one line naming HOST and the fix`, { skip: !canRunWithoutIpv6() && 'seccomp filters cannot be installed here' }, async () => {
      const lines: string[] = [];
      await assert.rejects(
        startService('quotes-service', { PORT: '0', HOST: '::1', ZIPKIN_URL: 'http://127.0.0.1:9' }, { runtime, launcher: WITHOUT_IPV6, onLog: (_, line) => lines.push(line) }),
        /exited with code 1 before listening/,
      );
      const own = lines.filter((line) => line.startsWith('{'));
      assert.equal(own.length, 1, own.join('\n'));
      const line = JSON.parse(own[0]!) as Record<string, string>;
      assert.equal(line['msg'], 'bad configuration');
      assert.equal(line['variable'], 'HOST');
      assert.match(line['error']!, /"::1" is an IPv6 address and this machine has no IPv6: use 127\.0\.0\.1 .* or ::/);
    });

    it(`on ${runtime}, where net.ipv6.bindv6only is 1: still answers over IPv4 and IPv6`, async (t) => {
      const namespace = bindv6onlyNamespace();
      if (!namespace) return t.skip('no network namespace of its own can be made here');
      // The probe runs in the namespace: this file again, which starts the service there and reports.
      const probe = spawn(namespace[0]!, [...namespace.slice(1), process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url)], {
        cwd: ROOT,
        // Without the runner's NODE_TEST_CONTEXT, which would make the probe report to it in its own format.
        env: { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT')), DUAL_STACK_PROBE: runtime },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      probe.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => probe.once('close', resolve));
      assert.equal(code, 0, output);
      const reported = output.split('\n').find((line) => line.startsWith(PROBE_REPORT));
      assert.ok(reported, output);
      const report = JSON.parse(reported.slice(PROBE_REPORT.length)) as { bindv6only: string; host: string; ipv4: number | string; ipv6: number | string };
      assert.deepEqual(report, { bindv6only: '1', host: '::', ipv4: 200, ipv6: 200 });
    });
  }

  it("with POD_IP in another notation (a zone, upper case, an IPv4-mapped one in hex): its spans carry the address as Zipkin's spec writes it, and are accepted", async () => {
    for (const [podIp, expected] of [
      ['FD00:0:0:0:0:0:0:7%eth0', { ipv6: 'fd00::7' }],
      ['::ffff:a2a:7', { ipv4: '10.42.0.7' }],
    ] as const) {
      const { service } = await startQuotes('node', { HOST: '::1', POD_IP: podIp, ZIPKIN_URL: collector.url, ZIPKIN_EXPORT_INTERVAL_MS: '50' });
      started.push(service);
      const answer = await fetch(`http://[::1]:${service.port}/api/quote?strength=0`);
      const traceId = answer.headers.get('traceresponse')!.split('-')[1];
      await answer.body?.cancel();
      let spans: Array<{ localEndpoint?: Record<string, unknown> }> = [];
      await until(
        async () => {
          const response = await fetch(`${collector.url}/api/v2/trace/${traceId}`);
          spans = response.ok ? ((await response.json()) as typeof spans) : [];
          return spans.length > 0;
        },
        10_000,
        `the span of POD_IP=${podIp} at the collector`,
      );
      assert.deepEqual(spans[0]!.localEndpoint, { serviceName: 'quotes-service', ...expected }, podIp);
    }
  });

  it('with POD_IP that is no address: one line naming POD_IP and the fix, /health DOWN saying so, ready and serving', async () => {
    const { service, lines } = await startQuotes('node', { HOST: '::', POD_IP: '$(POD_IP)' });
    started.push(service);
    const bad = lines.filter((line) => line['msg'] === 'bad configuration');
    assert.equal(bad.length, 1, JSON.stringify(lines));
    assert.equal(bad[0]!['variable'], 'POD_IP');
    assert.match(String(bad[0]!['error']), /POD_IP "\$\(POD_IP\)" is no IP address: set it from the pod's status\.podIP/);
    const health = await fetch(`http://[::1]:${service.port}/health`);
    assert.equal(health.status, 503);
    assert.match(((await health.json()) as { reason: string }).reason, /^configuration: POD_IP "\$\(POD_IP\)" is no IP address/);
    assert.equal(await statusAt('127.0.0.1', service.port, '/health/ready'), 200, 'still ready: the address only labels spans');
    assert.equal(await statusAt('127.0.0.1', service.port, '/api/quote'), 200);
  });
});

// Run in a network namespace by the bindv6only test above: starts quotes-service with HOST=:: there
// and prints what reached it, as one JSON line.
if (probing) {
  const { service } = await startQuotes(probing, { HOST: '::' });
  const { readFileSync } = await import('node:fs');
  const report = {
    bindv6only: readFileSync('/proc/sys/net/ipv6/bindv6only', 'utf8').trim(),
    host: service.host,
    ipv4: await statusAt('127.0.0.1', service.port),
    ipv6: await statusAt('[::1]', service.port),
  };
  await service.stop();
  console.log(PROBE_REPORT + JSON.stringify(report));
}
