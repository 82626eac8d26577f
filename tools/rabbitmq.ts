/** Making sure a RabbitMQ broker is reachable for a local run, starting a local one if it is installed. */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import process from 'node:process';
import amqp from 'amqplib';
import { deadLetterQueue } from '../lib/messaging.ts';
import { sleep } from './wait.ts';

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
  // The local broker listens where its own settings say; starting it for another port would wait for nothing.
  const localPort = Number(process.env['RABBITMQ_NODE_PORT'] || 5672);
  if (port !== localPort) {
    throw new Error(
      `nothing accepts connections at ${host}:${port} (AMQP_URL), and the local rabbitmq-server listens on ${localPort} ` +
        `(RABBITMQ_NODE_PORT moves it): start your broker at ${host}:${port}, or point AMQP_URL at port ${localPort}`,
    );
  }
  if (!hasCommand('rabbitmq-server') && !installWithApt(log)) throw new Error(HOW_TO_GET_ONE);
  // Erlang starts an epmd daemon with the node when none runs; then it is ours to stop too.
  const epmdWasRunning = await canConnect('127.0.0.1', Number(process.env['ERL_EPMD_PORT'] || 4369));
  // The watcher comes first, so that a broker is never left behind by an end during its start.
  const watcher = stopWithUs ? shutdownWhenWeEnd({ stopEpmd: !epmdWasRunning }) : undefined;
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
    `RabbitMQ did not accept connections on ${host}:${port} within ${waitMs / 1000} s. If it is still starting, its log (/var/log/rabbitmq/) ` +
      `says how far: a node recovering thousands of durable queues takes minutes. Otherwise start it yourself (sudo rabbitmq-server -detached)`,
  );
}

/**
 * A detached watcher that shuts the local node down once its standard input, a pipe from
 * this process, closes. Returns a function that closes the pipe now and resolves when
 * the node is down. A node still booting refuses the command for a while: it is retried.
 * With `stopEpmd`, the epmd daemon the node started goes too (`epmd -kill`, which leaves
 * an epmd alone while any other node is registered with it).
 */
function shutdownWhenWeEnd({ stopEpmd }: { stopEpmd: boolean }): () => Promise<void> {
  const then = stopEpmd ? 'epmd -kill >/dev/null 2>&1; ' : '';
  const script = `cat >/dev/null; for i in $(seq 30); do rabbitmqctl shutdown && { ${then}exit 0; }; sleep 1; done; exit 1`;
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
    // Held while it works: nothing else may keep this process alive until the node is down.
    watcher.ref();
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
