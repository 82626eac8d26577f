/**
 * `npm start` for real, stopped every way it gets stopped: a signal to npm's own process
 * (as IDE stop buttons, `timeout` and process managers send), Ctrl+C (SIGINT to the
 * terminal's process group), SIGKILL of tools/start.ts and SIGKILL of npm. Each time no
 * process of the run remains and every port it held is free. A broker it started stops
 * with it; a broker and a Zipkin it found running are left alone. A taken port is one
 * line naming the port, the service and the variable that moves it. Everything runs on
 * ports of its own, never the defaults.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostIPv4, hostIPv6 } from '../lib/instance.ts';
import { startCollector } from '../tools/collector/index.ts';
import { portVariable, ROOT, SERVICES } from '../tools/landscape.ts';
import { canConnect, deleteQueue } from '../tools/rabbitmq.ts';
import { preparePrivateBroker } from '../tools/rabbitmq-node.ts';
import { freePort, listenProblem, until } from '../tools/wait.ts';
import { AMQP_URL, traceIdOf, waitForTrace } from './support.ts';

const STARTED = 'The landscape is running';
const START_BOUND_MS = 120_000;
const STOP_BOUND_MS = 30_000;

/** The settings of one run: its own ports, data directory and VIP queue. */
async function runSettings(amqpUrl = AMQP_URL, extra: Record<string, string> = {}) {
  const ports: Record<string, number> = {};
  for (const name of [...SERVICES.map(portVariable), 'ZIPKIN_PORT']) ports[name] = await freePort();
  // Named as mktemp -d names directories: a DATA_DIR whose last part has a dot.
  const dataDir = mkdtempSync(join(tmpdir(), 'npm-start.'));
  const vipQueue = `vip_queue.test-${randomUUID().slice(0, 8)}`;
  const env = {
    ...Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, String(port)])),
    DATA_DIR: dataDir,
    VIP_QUEUE: vipQueue,
    AMQP_URL: amqpUrl,
    ...extra,
  };
  return { ports, env, dataDir, vipQueue, amqpUrl };
}
type RunSettings = Awaited<ReturnType<typeof runSettings>>;

interface NpmStart {
  npm: ChildProcess;
  /** Every line npm and the landscape printed, stdout and stderr. */
  lines: string[];
  exited: Promise<number | null>;
}

/** `npm start` in a process group of its own, as a terminal runs it. */
function npmStart(env: Record<string, string>): NpmStart {
  const npm = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [npm.stdout!, npm.stderr!]) createInterface({ input: stream }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  return { npm, lines, exited };
}

async function started(run: NpmStart): Promise<void> {
  let exitCode: number | null | undefined;
  void run.exited.then((code) => (exitCode = code));
  await until(() => exitCode !== undefined || run.lines.some((l) => l.startsWith(STARTED)), START_BOUND_MS, 'npm start to start');
  if (exitCode !== undefined) assert.fail(`npm start exited with ${exitCode}:\n${run.lines.slice(-20).join('\n')}`);
}

/** What npm start printed itself, without npm's own header and the services' JSON lines. */
const ownLines = (run: NpmStart) => run.lines.filter((l) => l.trim() !== '' && !l.startsWith('> ') && !l.startsWith('{'));

/** Processes by parent, read from /proc; zombies count as gone. */
function processTable(): Map<number, { ppid: number; command: string }> {
  const table = new Map<number, { ppid: number; command: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      table.set(Number(entry), { ppid: Number(ppid), command });
    } catch {
      // Gone while reading.
    }
  }
  return table;
}

function descendants(pid: number): Map<number, string> {
  const table = processTable();
  const found = new Map<number, string>();
  const visit = (parent: number) => {
    for (const [child, { ppid, command }] of table) {
      if (ppid === parent && !found.has(child)) {
        found.set(child, command);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

/** Waits until none of `pids` runs and every port is free; fails naming what remains. */
async function allGone(pids: Map<number, string>, ports: number[]): Promise<void> {
  const remaining = () => [...pids.keys()].filter((pid) => processTable().has(pid));
  const held = async () => (await Promise.all(ports.map(async (port) => ((await listenProblem(port)) ? port : undefined)))).filter(Boolean);
  try {
    await until(async () => remaining().length === 0 && (await held()).length === 0, STOP_BOUND_MS, 'every process gone, every port free');
  } catch {
    const left = remaining().map((pid) => `${pid} ${pids.get(pid)}`);
    for (const pid of remaining()) process.kill(pid, 'SIGKILL');
    assert.fail(`left behind: ${left.join('; ') || 'no process'}; ports held: ${(await held()).join(', ') || 'none'}`);
  }
}

/**
 * Starts a run, lets `during` look at it and stop it, then checks that no process of the
 * run remains and none of its ports is held (but those of servers it found running).
 */
async function startAndStop(
  settings: RunSettings,
  during: (run: NpmStart, tree: Map<number, string>) => Promise<void>,
  { foundRunning = [] as number[] } = {},
): Promise<void> {
  const run = npmStart(settings.env);
  try {
    await started(run);
    const tree = descendants(run.npm.pid!);
    tree.set(run.npm.pid!, 'npm start');
    const services = [...tree.values()].filter((command) => command.includes('services/'));
    assert.equal(services.length, SERVICES.length, `one process per service: ${[...tree.values()].join('; ')}`);
    await during(run, tree);
    await allGone(tree, Object.values(settings.ports).filter((port) => !foundRunning.includes(port)));
  } finally {
    if (run.npm.exitCode === null && run.npm.signalCode === null) process.kill(-run.npm.pid!, 'SIGKILL');
    await deleteQueue(settings.amqpUrl, settings.vipQueue).catch(() => {});
    rmSync(settings.dataDir, { recursive: true, force: true });
  }
}

const pidOf = (tree: Map<number, string>, fragment: string) => [...tree].find(([, command]) => command.includes(fragment))![0];
const bannerSays = (run: NpmStart, text: string) => assert.ok(ownLines(run).some((l) => l.includes(text)), `the banner says "${text}":\n${ownLines(run).join('\n')}`);
const brokerAt = (amqpUrl: string) => ({ host: new URL(amqpUrl).hostname, port: Number(new URL(amqpUrl).port || 5672) });

describe('npm start', () => {
  it('stops everything on a signal to npm; a second npm start names the ports taken; a Zipkin found running is used and left', async () => {
    const settings = await runSettings();
    const accountPort = settings.ports['ACCOUNTSERVICE_PORT']!;
    // Stands in for a real Zipkin (docker run -p 9411:9411 openzipkin/zipkin): the same API.
    const zipkin = await startCollector({ port: settings.ports['ZIPKIN_PORT'] });
    try {
      await startAndStop(settings, async (run) => {
        bannerSays(run, '(a Zipkin that was already running)');
        bannerSays(run, 'listening on 127.0.0.1, this machine only');
        const response = await fetch(`http://127.0.0.1:${accountPort}/accounts/10001`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
        await waitForTrace(zipkin.url, traceIdOf(response), (spans) => spans.some((s) => s.localEndpoint?.serviceName === 'accountservice'));
        const external = hostIPv4();
        if (external) assert.equal(await canConnect(external, accountPort), false, `not reachable at ${external}: loopback only`);

        const second = npmStart(settings.env);
        assert.equal(await second.exited, 1);
        const own = ownLines(second);
        assert.equal(own.length, 1, `one line:\n${own.join('\n')}`);
        for (const name of SERVICES) {
          const variable = portVariable(name);
          assert.ok(own[0]!.includes(`${settings.ports[variable]} (${name}: ${variable})`), own[0]);
        }
        assert.match(own[0]!, /a second landscape also needs a DATA_DIR and a VIP_QUEUE of its own/);

        // Ports of its own, but the same DATA_DIR: the two would share the outbox and the inbox.
        const moved: Record<string, string> = {};
        for (const name of Object.keys(settings.ports)) moved[name] = String(await freePort());
        const third = npmStart({ ...settings.env, ...moved });
        assert.equal(await third.exited, 1);
        assert.deepEqual(ownLines(third), [
          `DATA_DIR ${settings.dataDir} is in use by another npm start: stop it, or give this one a DATA_DIR of its own ` +
            "(and a VIP_QUEUE of its own, or the two landscapes take each other's VIP notifications)",
        ]);
        for (const port of Object.values(moved)) assert.equal(await listenProblem(Number(port)), undefined, `${port} free: nothing was started`);

        process.kill(run.npm.pid!, 'SIGTERM');
      }, { foundRunning: [zipkin.port] });
      assert.ok(await canConnect('127.0.0.1', zipkin.port), 'the Zipkin it found still runs');
      const broker = brokerAt(AMQP_URL);
      assert.ok(await canConnect(broker.host, broker.port), 'the broker it found still runs');
    } finally {
      await zipkin.close();
    }
  });

  it('on Deno with HOST=::, stops the services and the collector when tools/start.ts is killed', async () => {
    // imageservice on any free port: the banner's hints give the port it took.
    const settings = await runSettings(AMQP_URL, { RUNTIME: 'deno', HOST: '::', IMAGESERVICE_PORT: '0' });
    await startAndStop(settings, async (run, tree) => {
      bannerSays(run, 'running on deno, listening on ::, every interface, IPv4 and IPv6');
      bannerSays(run, '(local collector)');
      const imagePort = /^ {2}imageservice +http:\/\/(?:\[[^\]]+\]|[^:]+):(\d+)$/m.exec(ownLines(run).join('\n'))?.[1];
      assert.ok(imagePort && imagePort !== '0', 'the banner lists imageservice on the port it took');
      bannerSays(run, `IMAGESERVICE_PORT=${imagePort} `);
      const port = settings.ports['ACCOUNTSERVICE_PORT']!;
      // Dual stack: IPv4 and IPv6 reach the same socket.
      for (const address of ['127.0.0.1', '::1', hostIPv4(), hostIPv6()]) {
        if (address) assert.ok(await canConnect(address, port), `reachable at ${address}`);
      }
      process.kill(pidOf(tree, 'tools/start.ts'), 'SIGKILL');
    });
  });

  it('stops everything on Ctrl+C, the broker it started too, and the epmd that broker started', async () => {
    // No epmd runs for this node: as on a machine where none does, the node starts one.
    const node = await preparePrivateBroker({ epmd: false });
    let brokerUpWhenNpmEnded: Promise<boolean> | undefined;
    try {
      const settings = await runSettings(node.url, node.env);
      await startAndStop(settings, async (run) => {
        bannerSays(run, 'RabbitMQ        started for this run');
        assert.ok(await canConnect('127.0.0.1', node.epmdPort), 'the node started an epmd');
        // Read as npm ends: the broker must be down by then, not stopping behind its back.
        brokerUpWhenNpmEnded = run.exited.then(() => node.isUp());
        // What a terminal does on Ctrl+C: SIGINT to every process of its foreground group.
        process.kill(-run.npm.pid!, 'SIGINT');
      });
      assert.equal(await brokerUpWhenNpmEnded, false, 'the broker was down when npm start ended');
      await until(async () => !(await node.isUp()), STOP_BOUND_MS, 'the broker npm start started to stop');
      await until(async () => !(await canConnect('127.0.0.1', node.epmdPort)), STOP_BOUND_MS, 'the epmd the broker started to stop');
    } finally {
      await node.close();
    }
  });

  it('stops everything when npm is killed, and leaves the broker it found running', async () => {
    const node = await preparePrivateBroker();
    try {
      await node.start();
      const settings = await runSettings(node.url, node.env);
      await startAndStop(settings, async (run) => {
        bannerSays(run, 'RabbitMQ        already running; left as it is');
        process.kill(run.npm.pid!, 'SIGKILL');
      });
      assert.ok(await node.isUp(), 'the broker it found still runs');
    } finally {
      await node.close();
    }
  });

  it('fails with status 1 after stopping the broker it started, when a service cannot start', async () => {
    const node = await preparePrivateBroker();
    const settings = await runSettings(node.url, { ...node.env, QUOTE_STRENGTH: '5000' });
    try {
      const run = npmStart(settings.env);
      const code = await run.exited;
      assert.equal(code, 1, run.lines.slice(-10).join('\n'));
      assert.ok(ownLines(run).some((l) => /accountservice exited with code 1 before listening/.test(l)), ownLines(run).join('\n'));
      assert.equal(await node.isUp(), false, 'the broker it started is down when it ends');
    } finally {
      await node.close();
      rmSync(settings.dataDir, { recursive: true, force: true });
    }
  });

  it('starts no broker for an AMQP_URL the local one does not listen at, and says so in one line', async () => {
    const port = await freePort();
    const settings = await runSettings(`amqp://guest:guest@127.0.0.1:${port}`);
    try {
      const run = npmStart({ ...settings.env, RABBITMQ_NODE_PORT: '' });
      assert.equal(await run.exited, 1);
      const own = ownLines(run);
      assert.equal(own.length, 1, own.join('\n'));
      assert.match(own[0]!, new RegExp(`^nothing accepts connections at 127\\.0\\.0\\.1:${port} \\(AMQP_URL\\), and the local rabbitmq-server listens on 5672`));
      assert.equal(await listenProblem(port), undefined, 'nothing was started there');
    } finally {
      rmSync(settings.dataDir, { recursive: true, force: true });
    }
  });

  it('says in one line that HOST is no address of this machine, rather than blaming the ports', async () => {
    const settings = await runSettings();
    try {
      const run = npmStart({ ...settings.env, HOST: '192.0.2.1' }); // TEST-NET-1 (RFC 5737): no machine's address
      assert.equal(await run.exited, 1);
      assert.deepEqual(ownLines(run), ['HOST 192.0.2.1 is no address of this machine (EADDRNOTAVAIL); set HOST to one of its addresses, 127.0.0.1, or :: for every interface']);
    } finally {
      rmSync(settings.dataDir, { recursive: true, force: true });
    }
  });

  it('says in one line which port is taken or given twice, for which service, and the variable that moves it', async () => {
    const settings = await runSettings();
    try {
      const shared = npmStart({ ...settings.env, QUOTES_SERVICE_PORT: String(settings.ports['ACCOUNTSERVICE_PORT']), VIPSERVICE_PORT: '0', IMAGESERVICE_PORT: '0' });
      assert.equal(await shared.exited, 1);
      assert.deepEqual(ownLines(shared), [`QUOTES_SERVICE_PORT and ACCOUNTSERVICE_PORT are both ${settings.ports['ACCOUNTSERVICE_PORT']}: give each its own port`]);
      for (const [name, port] of Object.entries(settings.ports)) assert.equal(await listenProblem(port), undefined, `${name} ${port} free: nothing was started`);
      const brokerPort = Number(new URL(settings.amqpUrl).port || 5672);
      const onBroker = npmStart({ ...settings.env, VIPSERVICE_PORT: String(brokerPort) });
      assert.equal(await onBroker.exited, 1);
      assert.deepEqual(ownLines(onBroker), [`VIPSERVICE_PORT and AMQP_URL are both ${brokerPort}: give each its own port`]);

      const cases = [
        ['IMAGESERVICE_PORT', /^port (\d+) \(imageservice: IMAGESERVICE_PORT\) is in use on 127\.0\.0\.1/],
        ['ZIPKIN_PORT', /^port (\d+) \(the local Zipkin collector: ZIPKIN_PORT\) is in use by something that does not answer the Zipkin API/],
      ] as const;
      for (const [variable, expected] of cases) {
        // Something that is neither a service of ours nor a Zipkin.
        const squatter = createHttpServer((_request, response) => response.writeHead(404).end());
        await new Promise<void>((resolve) => squatter.listen(settings.ports[variable], '127.0.0.1', resolve));
        try {
          const run = npmStart(settings.env);
          assert.equal(await run.exited, 1);
          const own = ownLines(run);
          assert.equal(own.length, 1, `one line:\n${own.join('\n')}`);
          assert.equal(Number(expected.exec(own[0]!)?.[1]), settings.ports[variable], own[0]);
          for (const [name, port] of Object.entries(settings.ports)) {
            if (name !== variable) assert.equal(await listenProblem(port), undefined, `${name} ${port} free: nothing was started`);
          }
        } finally {
          await new Promise((resolve) => squatter.close(resolve));
        }
      }
    } finally {
      rmSync(settings.dataDir, { recursive: true, force: true });
    }
  });
});
