/** Making sure a RabbitMQ broker is reachable for a local run, starting a local one if it is installed. */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import amqp from 'amqplib';
import { deadLetterQueue } from '../lib/messaging.ts';
import process from 'node:process';
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

/**
 * Resolves when the broker at `amqpUrl` accepts connections. A local broker that is
 * installed but stopped is started (detached, so it outlives us like a system service).
 */
export async function ensureRabbitMQ(amqpUrl: string, { waitMs = 60_000, log = console.log } = {}): Promise<void> {
  const url = new URL(amqpUrl);
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 5672);
  if (await canConnect(host, port)) return;
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);
  if (!local) throw new Error(`RabbitMQ at ${host}:${port} (AMQP_URL) is not reachable`);
  if (!hasCommand('rabbitmq-server') && !installWithApt(log)) throw new Error(HOW_TO_GET_ONE);
  log(`starting the local RabbitMQ (rabbitmq-server -detached) ...`);
  // A failure here may only mean a broker is already starting (e.g. right after install): the wait decides.
  run('rabbitmq-server', ['-detached']);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port)) return;
    await sleep(500);
  }
  throw new Error(
    `RabbitMQ did not accept connections on ${host}:${port} within ${waitMs / 1000} s; start it yourself (sudo rabbitmq-server -detached)`,
  );
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
