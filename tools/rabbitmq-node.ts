/**
 * Brokers for tests that must not touch the machine's own.
 *
 * `startPrivateBroker` runs a RabbitMQ node of a test's own: its own node name, AMQP and
 * distribution ports chosen free, its own epmd on a free port, its Erlang cookie, data,
 * logs, configuration and (empty) plugin list in a temporary directory, so it reads
 * nothing of the system's and a stop or restart reaches nothing else. `preparePrivateBroker`
 * makes the same node without starting it, for a program under test to start (npm start). `watchBroker` holds
 * a connection to a broker and says whether the broker closed it, which any stop, restart
 * or forced close does.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { brokerReason } from '../lib/broker-conditions.ts';
import { canConnect } from './rabbitmq.ts';
import { freePort, until } from './wait.ts';

const run = promisify(execFile);

/** Debian's wrappers in /usr/sbin switch to the rabbitmq user and the system's settings; the scripts behind them, here, do not. */
const SCRIPTS = '/usr/lib/rabbitmq/bin';

/**
 * The broker the tests use: `AMQP_URL`, which `tools/test-broker.ts` (behind `npm test` and
 * the other test scripts) sets to a RabbitMQ node of the run's own. Throws, saying how to run
 * a test, when it is unset: tests never fall back to the machine's broker.
 */
export function testAmqpUrl(): string {
  const url = process.env.AMQP_URL;
  if (url) return url;
  throw new Error(
    'AMQP_URL is not set: run the tests with npm test (or npm run test:unit, test:e2e), which start a RabbitMQ node of their own, ' +
      'or a single file with: node --import tsx tools/test-broker.ts node --import tsx --test <file>',
  );
}

export interface PrivateBroker {
  /** `amqp://guest:guest@127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Where its epmd listens (ERL_EPMD_PORT). */
  epmdPort: number;
  /** The Erlang node name, for `rabbitmqctl -n`. */
  node: string;
  /**
   * The environment that addresses this node and nothing else: given to `rabbitmq-server
   * -detached` and `rabbitmqctl` (npm start does both), they start and stop this node. Its
   * PATH finds RabbitMQ's own scripts before Debian's wrappers, which would switch to the
   * system's settings.
   */
  env: Record<string, string>;
  /** Starts the node in the foreground of this process; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Whether it accepts connections (whoever started it). */
  isUp(): Promise<boolean>;
  /** Runs `rabbitmqctl -n <node> <args>` against this node only; resolves with its output. */
  ctl(...args: string[]): Promise<string>;
  /** Stops the RabbitMQ application (the node stays up): every connection is closed, nothing accepts new ones. */
  stopApp(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  startApp(): Promise<void>;
  /** Stops the node (whoever started it) and its epmd, and removes its directory. */
  close(): Promise<void>;
}

/**
 * Prepares a RabbitMQ node of its own, not yet started: its directory, ports, cookie and
 * an epmd. Start it with `start()`, or hand `env` to whatever should start it. With
 * `epmd: false` no epmd is started beforehand: the node starts one as a daemon on
 * `epmdPort`, as a node does on a machine where none runs.
 */
export async function preparePrivateBroker({ timeoutMs = 60_000, epmd: ownEpmd = true } = {}): Promise<PrivateBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'rabbitmq-node-'));
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const node = `test-${randomBytes(4).toString('hex')}@localhost`;
  writeFileSync(join(dir, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase(), { mode: 0o400 });
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), '');
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  mkdirSync(join(dir, 'log'));

  const settings = {
    PATH: `${SCRIPTS}:${process.env.PATH ?? ''}:/usr/sbin:/sbin`,
    HOME: dir, // where Erlang finds the cookie, for the node and for rabbitmqctl
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    ERL_CRASH_DUMP: join(dir, 'erl_crash.dump'), // where a node that fails to start writes its dump: not the caller's directory
  };
  // Nothing of the caller's RabbitMQ or Erlang settings leaks in: only what is set here.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(RABBITMQ_|ERL_)/.test(name))) as Record<string, string>;
  const env = { ...inherited, ...settings };

  // Should this process end without close(), however it ends (SIGKILL, a test runner's
  // timeout), a watcher holding a pipe from it kills what this directory's *.pid files name
  // (epmd, the server script, the Erlang VM) and removes the directory once the pipe closes.
  const watcher = spawn('sh', ['-c', 'cat >/dev/null; for f in "$0"/*.pid; do kill -KILL "$(cat "$f")"; done 2>/dev/null; epmd -kill >/dev/null 2>&1; rm -rf "$0"', dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env,
  });
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void }).unref?.();
  const remember = (name: string, child: ChildProcess) => child.pid && writeFileSync(join(dir, `${name}.pid`), String(child.pid));

  // An epmd of its own, in the foreground, so it goes when this process ends it.
  const epmd = ownEpmd ? spawn('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { env, stdio: 'ignore' }) : undefined;
  if (epmd) remember('epmd', epmd);
  let server: ChildProcess | undefined;

  const isUp = () => canConnect('127.0.0.1', port, 500);
  const accepting = () => until(isUp, timeoutMs, `RabbitMQ node ${node} on port ${port}`, 100);
  const ctl = async (...args: string[]) => (await run('rabbitmqctl', ['-n', node, ...args], { env })).stdout;

  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    epmdPort,
    node,
    env: settings,
    isUp,
    ctl,
    async start() {
      const output: string[] = [];
      server = spawn('rabbitmq-server', [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      remember('server', server);
      for (const stream of [server.stdout, server.stderr]) {
        stream?.on('data', (chunk: Buffer) => {
          output.push(...chunk.toString().split('\n').filter(Boolean));
          output.splice(0, output.length - 20);
        });
      }
      const exited = new Promise((_, reject) => server!.once('exit', (code) => reject(new Error(`rabbitmq-server exited with ${code}`))));
      try {
        await Promise.race([accepting(), exited]);
      } catch (error) {
        throw new Error(`private RabbitMQ node did not start: ${(error as Error).message}\n${output.slice(-20).join('\n')}`);
      }
    },
    async stopApp() {
      await ctl('stop_app');
    },
    async startApp() {
      await ctl('start_app');
      await accepting();
    },
    async close() {
      if (watcher.pid) process.kill(-watcher.pid, 'SIGKILL'); // the watcher and its cat: this close does their work
      if (server && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server!.once('exit', resolve));
        server.kill('SIGTERM');
        const killer = setTimeout(() => server!.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      } else if (await isUp()) {
        // Started by someone else with `env` (detached): stopped the way rabbitmqctl stops it.
        await ctl('shutdown').catch(() => {});
      }
      if (epmd) epmd.kill('SIGTERM');
      else await run('epmd', ['-kill'], { env }).catch(() => {}); // the daemon the node started, if still there
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a RabbitMQ node of its own (about 5 s); rejects with the node's last output if
 * it does not accept connections within `timeoutMs`.
 */
export async function startPrivateBroker(options: { timeoutMs?: number } = {}): Promise<PrivateBroker> {
  const broker = await preparePrivateBroker(options);
  try {
    await broker.start();
  } catch (error) {
    await broker.close();
    throw error;
  }
  return broker;
}

export interface BrokerWatch {
  /** Why the broker closed the watching connection, or undefined while it is open. */
  readonly closedBy: string | undefined;
  close(): Promise<void>;
}

/**
 * Holds a connection to the broker at `url` (without heartbeats, so a busy test process
 * cannot lose it on its own): a broker that is stopped, restarted or has its connections
 * closed closes it, and `closedBy` then says why.
 */
export async function watchBroker(url: string): Promise<BrokerWatch> {
  const address = new URL(url);
  address.searchParams.set('heartbeat', '0');
  const connection = await amqp.connect(address.toString());
  let closedBy: string | undefined;
  let closing = false;
  connection.on('error', () => {}); // the 'close' that follows carries the reason
  connection.on('close', (error?: Error) => {
    if (!closing) closedBy = `${new Date().toISOString()}: ${error ? brokerReason(error) : 'connection closed'}`;
  });
  return {
    get closedBy() {
      return closedBy;
    },
    async close() {
      closing = true;
      if (closedBy === undefined) await connection.close().catch(() => {});
    },
  };
}
