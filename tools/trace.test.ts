import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startCollector, type RunningCollector, type Span } from './collector/index.ts';
import { ROOT } from './landscape.ts';

const run = promisify(execFile);
const NOW = Date.now() * 1000;
const frontend = { serviceName: 'frontend', ipv4: '10.0.0.1' };
const backend = { serviceName: 'backend', ipv4: '10.0.0.2' };

/** A trace whose backend clock runs 50 ms behind: its server span starts before the client calling it. */
function skewedTrace(traceId: string, start: number, error = false): Span[] {
  return [
    { traceId, id: '0000000000000001', kind: 'SERVER', name: 'get /checkout', timestamp: start, duration: 40_000, localEndpoint: frontend },
    {
      traceId,
      parentId: '0000000000000001',
      id: '0000000000000002',
      kind: 'CLIENT',
      name: 'get /stock',
      timestamp: start + 5_000,
      duration: 30_000,
      localEndpoint: frontend,
      remoteEndpoint: { serviceName: 'backend' },
    },
    {
      traceId,
      parentId: '0000000000000001',
      id: '0000000000000002',
      kind: 'SERVER',
      name: 'get /stock',
      timestamp: start + 5_000 + 2_000 - 50_000,
      duration: 26_000,
      localEndpoint: backend,
      annotations: [{ timestamp: start + 5_000 + 2_000 - 50_000 + 26_000, value: 'ws' }],
      shared: true,
      ...(error ? { tags: { error: 'out of stock' } } : {}),
    },
  ];
}

const OLDER = '4e441824ec2b6a44ffdc9bb9a6453df3';
const NEWER = '5e441824ec2b6a44ffdc9bb9a6453df4';
let collector: RunningCollector;

before(async () => {
  collector = await startCollector({ port: 0 });
  collector.store.add([...skewedTrace(OLDER, NOW - 60_000_000), ...skewedTrace(NEWER, NOW - 1_000_000, true)]);
});
after(() => collector.close());

async function trace(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return traceWith({ ZIPKIN_URL: collector.url }, ...args);
}

async function traceWith(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'tools/trace.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ZIPKIN_URL: '', ZIPKIN_PORT: '', ...env, NO_COLOR: '1' },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe('npm run trace', () => {
  test('takes a whole traceresponse value, and corrects clock skew as Zipkin does', async () => {
    const { stdout, code } = await trace(`00-${OLDER}-0000000000000001-01`);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^Trace ${OLDER}$`, 'm'));
    const start = (label: string) => Number(new RegExp(`^\\s*${label}\\s+\\w+\\s+([\\d.]+)`, 'm').exec(stdout)?.[1]);
    // The client starts at 5 ms; the server 2 ms later (half of the 4 ms the server did not account for).
    assert.equal(start('frontend: get /stock'), 5);
    assert.equal(start('backend: get /stock'), 7);
    assert.match(stdout, /^\s+· ws\s+33\.000\s+◆/m, 'the annotation moves with its span');
    for (const line of stdout.split('\n').filter((row) => row.includes('|'))) assert.match(line, /\|[█ ]+\|$/);
  });

  test('--list prints the recent traces newest first: root, services, duration, errors', async () => {
    const { stdout, code } = await trace('--list');
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^TRACE ID\s+START\s+DURATION\s+SPANS\s+ROOT\s+SERVICES$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, new RegExp(`^${NEWER} .* 40ms\\s+3 ! 1 error · frontend: get /checkout\\s+frontend, backend$`));
    assert.match(lines[2]!, new RegExp(`^${OLDER} .* 40ms\\s+3 frontend: get /checkout\\s+frontend, backend$`));
  });

  test('reads npm start’s collector at ZIPKIN_PORT when ZIPKIN_URL is not set', async () => {
    const { stdout, code } = await traceWith({ ZIPKIN_PORT: new URL(collector.url).port }, '--list');
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^${NEWER} `, 'm'));
  });

  test('says what it expected for input that is no trace id', async () => {
    const { stderr, code } = await trace('00-not-a-trace');
    assert.equal(code, 1);
    assert.match(stderr, /is not a trace id \(16 or 32 hex characters\) nor a traceresponse value/);
    assert.match((await trace('--list', OLDER)).stderr, /--list takes no trace id/);
  });
});
