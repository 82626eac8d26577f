/**
 * `npm run load` against a real landscape: the traffic it promises (accounts with the
 * VIP and unknown ids, quotes, images) at the rate asked for, a summary with the numbers,
 * and trace ids that open in Zipkin; bad options and an absent landscape in one line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { portVariable, ROOT, type ServiceName } from '../tools/landscape.ts';
import { freePort } from '../tools/wait.ts';
import { startTestLandscape, type TestLandscape } from './support.ts';
import { waitForTrace } from './traces.ts';

function npmRunLoad(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'load', '--', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run load', () => {
  let landscape: TestLandscape;
  let env: Record<string, string>;

  before(async () => {
    landscape = await startTestLandscape('node');
    const port = (name: ServiceName) => [portVariable(name), String(landscape.services[name].port)];
    env = {
      ...Object.fromEntries((['accountservice', 'quotes-service', 'imageservice'] as const).map(port)),
      ZIPKIN_URL: landscape.collector.url,
    };
  });
  after(() => landscape?.close());

  it('sends the mix of requests at the rate asked, and sums up with latencies and traces to open', async () => {
    const { code, stdout, stderr } = await npmRunLoad(['--rate', '20', '--duration', '2'], env);
    assert.equal(code, 0, stderr);
    const [, count, , rate, notSent] = /^(\d+) requests in ([\d.]+) s: ([\d.]+) requests\/s(?: \((\d+) not sent)?/m.exec(stdout) ?? [];
    // 40 due in 2 s: sent, or held back while its bound of requests in flight was reached.
    assert.equal(Number(count) + Number(notSent ?? 0), 40, stdout);
    assert.ok(Number(rate) > 0);
    assert.match(stdout, /^latency p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms$/m);
    assert.match(stdout, /^errors 0$/m, stdout);
    const kinds = /^by kind: (.*)$/m.exec(stdout)?.[1] ?? '';
    for (const kind of ['account', 'vip account', 'unknown account', 'quote', 'image', 'image url']) assert.match(kinds, new RegExp(`(^|, )${kind} \\d+`));
    assert.match(stderr, /2\/2 s/, 'the progress bar reached the end');
    // The waterfall hint carries the settings the tools read, here the collector's URL.
    assert.match(stdout, new RegExp(`^  .*ZIPKIN_URL=${landscape.collector.url} .*npm run trace <trace id>`, 'm'));

    // The traces it names reach Zipkin, at the links it prints, once the services have exported their spans
    // (every ZIPKIN_EXPORT_INTERVAL_MS: the tool prints the links as its last requests are answered).
    const links = [...stdout.matchAll(/^ {4}(http:\S+\/zipkin\/traces\/([0-9a-f]{32}))$/gm)];
    assert.ok(links.length >= 2, stdout);
    for (const [, link, traceId] of links) {
      assert.ok(link!.startsWith(`${landscape.collector.url}/zipkin/traces/`), link);
      await waitForTrace(landscape.collector.url, traceId!, (spans) => spans.length > 0, 10_000);
    }
  });

  it('refuses options beyond its bounds, and says so when the landscape is not running', async () => {
    for (const args of [['--rate', '1000'], ['--duration', '0'], ['--duration', 'long']]) {
      const { code, stderr } = await npmRunLoad(args, env);
      assert.equal(code, 1);
      assert.match(stderr.trim(), /^--(rate|duration): expected a number above 0 and at most \d+, got "[^"]*"$/);
    }
    for (const args of [['--bogus'], ['--rate']]) {
      const { code, stderr } = await npmRunLoad(args, env);
      assert.equal(code, 1);
      assert.match(stderr, /^(Unknown option '--bogus'|Option '--rate <value>' argument missing)/);
      assert.match(stderr, /^usage: npm run load -- /m);
      assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    }
    const { code, stderr } = await npmRunLoad(['--duration', '1'], { ...env, ACCOUNTSERVICE_PORT: String(await freePort()) });
    assert.equal(code, 1);
    assert.match(stderr.trim(), /^accountservice does not answer at http:\/\/127\.0\.0\.1:\d+ \(ACCOUNTSERVICE_PORT\); is npm start running\?$/);
  });
});
