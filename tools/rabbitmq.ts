/** Making sure a RabbitMQ broker is reachable for a local run, starting a local one if it is installed. */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import amqp from 'amqplib';
import { deadLetterQueue } from '../lib/messaging.ts';
import { freePort, sleep, until } from './wait.ts';

export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const HOW_TO_GET_ONE = [
  'RabbitMQ is not reachable and no local rabbitmq-server is installed. Either:',
  '  - install and start it (Debian/Ubuntu): sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached',
  '  - or point AMQP_URL at a broker you have, e.g. AMQP_URL=amqp://user:pass@host:5672 npm start',
].join('\n');

// Debian installs the broker's commands in /usr/sbin, which a non-login PATH may lack.
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', env: { ...process.env, PATH } }).status === 0;
}

function run(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, PATH, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
}

/** On a Debian machine where we are root, Debian's package is one step away. */
function installWithApt(log: (message: string) => void): boolean {
  const root = process.getuid?.() === 0;
  if (!root || !hasCommand('apt-get')) return false;
  log('RabbitMQ is not installed: installing Debian\'s rabbitmq-server package (apt-get) ...');
  return run('apt-get', ['update', '-qq']) && run('apt-get', ['install', '-y', '-qq', 'rabbitmq-server']);
}

export interface EnsuredBroker {
  /** Whether the broker had to be started (it was not reachable before). */
  started: boolean;
  /**
   * Stops the broker if it was started with `stopWithUs`, and resolves once it is down;
   * does nothing for a broker that was found running.
   */
  stop(): Promise<void>;
}

export interface EnsureRabbitMQOptions {
  waitMs?: number;
  log?: (message: string) => void;
  /**
   * Stop a broker started here when this process ends, however it ends (SIGKILL
   * included): a watcher holding a pipe from this process shuts the node down
   * (`rabbitmqctl shutdown`) when the pipe closes. Without it, a started broker outlives
   * us like a system service. A broker found running is never stopped.
   */
  stopWithUs?: boolean;
}

/**
 * Resolves when the broker at `amqpUrl` accepts connections. A local broker that is
 * installed but stopped is started (`rabbitmq-server -detached`, with this process's
 * environment, so RABBITMQ_NODENAME, RABBITMQ_NODE_PORT and the like apply).
 */
export async function ensureRabbitMQ(
  amqpUrl: string,
  { waitMs = 60_000, log = console.log, stopWithUs = false }: EnsureRabbitMQOptions = {},
): Promise<EnsuredBroker> {
  const url = new URL(amqpUrl);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 5672);
  if (await canConnect(host, port)) return { started: false, stop: async () => {} };
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);
  if (!local) throw new Error(`RabbitMQ at ${host}:${port} (AMQP_URL) is not reachable`);
  if (!hasCommand('rabbitmq-server') && !installWithApt(log)) throw new Error(HOW_TO_GET_ONE);
  // The watcher comes first, so that a broker is never left behind by an end during its start.
  const watcher = stopWithUs ? shutdownWhenWeEnd() : undefined;
  const broker = { started: true, stop: async () => watcher?.() };
  log(`starting the local RabbitMQ (rabbitmq-server -detached) ...`);
  // A failure here may only mean a broker is already starting (e.g. right after install): the wait decides.
  run('rabbitmq-server', ['-detached']);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port)) return broker;
    await sleep(500);
  }
  await broker.stop();
  throw new Error(
    `RabbitMQ did not accept connections on ${host}:${port} within ${waitMs / 1000} s; start it yourself (sudo rabbitmq-server -detached)`,
  );
}

/**
 * A detached watcher that shuts the local node down once its standard input, a pipe from
 * this process, closes. Returns a function that closes the pipe now and resolves when
 * the node is down. A node still booting refuses the command for a while: it is retried.
 */
function shutdownWhenWeEnd(): () => Promise<void> {
  const script = 'cat >/dev/null; for i in $(seq 30); do rabbitmqctl shutdown && exit 0; sleep 1; done; exit 1';
  const watcher = spawn('sh', ['-c', script], {
    // Its own process group: a Ctrl+C meant for us must not stop it before it has done its work.
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, PATH },
  });
  const exited = new Promise<void>((resolve) => watcher.once('exit', () => resolve()));
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void }).unref?.();
  return () => {
    watcher.stdin!.end();
    return exited;
  };
}

/** Removes a queue and its dead-letter queue: what a test or benchmark declared for itself. */
export async function deleteQueue(amqpUrl: string, queue: string): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    for (const name of [queue, deadLetterQueue(queue)]) await channel.deleteQueue(name);
  } finally {
    await connection.close();
  }
}

/** A RabbitMQ node of a test's own: its own name, ports and directories, beside the machine's broker. */
export interface PrivateBrokerNode {
  amqpUrl: string;
  /** RABBITMQ_* variables naming this node, for rabbitmq-server and rabbitmqctl (and npm start). */
  env: Record<string, string>;
  /** Starts the node (detached) and resolves once it accepts connections. */
  start(): Promise<void>;
  /** Whether it accepts connections. */
  isUp(): Promise<boolean>;
  /** Shuts the node down if it runs, then removes its directories. */
  remove(): Promise<void>;
}

/** Whether this machine can run a private node: rabbitmq-server installed, and root to hand its directories to the rabbitmq user. */
export function canRunPrivateBrokerNode(): boolean {
  return process.getuid?.() === 0 && hasCommand('rabbitmq-server');
}

/**
 * Prepares a private node (not started). Debian's commands run the broker as the
 * rabbitmq user with the caller's environment, so its directories belong to that user.
 */
export async function privateBrokerNode(): Promise<PrivateBrokerNode> {
  const dir = mkdtempSync(join(tmpdir(), 'rabbitmq-node-'));
  const [port, distPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const { uid, gid } = userInfoOf('rabbitmq');
  for (const path of [dir, join(dir, 'enabled_plugins')]) chownSync(path, uid, gid);
  const env = {
    RABBITMQ_NODENAME: `landscape-test-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    // Not the machine's configuration: a file that does not exist means the defaults.
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
  };
  const command = (name: string, args: string[]) =>
    new Promise<boolean>((resolve) => {
      const child = spawn(name, args, { stdio: 'ignore', env: { ...process.env, PATH, ...env } });
      child.once('error', () => resolve(false));
      child.once('exit', (code) => resolve(code === 0));
    });
  const isUp = () => canConnect('127.0.0.1', port);
  return {
    amqpUrl: `amqp://guest:guest@127.0.0.1:${port}`,
    env,
    isUp,
    async start() {
      await command('rabbitmq-server', ['-detached']);
      await until(isUp, 60_000, `the private RabbitMQ node on port ${port}`, 200);
    },
    async remove() {
      if (await isUp()) await command('rabbitmqctl', ['shutdown']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function userInfoOf(user: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}
