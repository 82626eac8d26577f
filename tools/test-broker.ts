/**
 * `node --import tsx tools/test-broker.ts <command> [args...]`: runs a command (the test
 * runner, Stryker, the benchmarks) with `AMQP_URL` at a RabbitMQ node of its own
 * (`startPrivateBroker`: its own name, ports, epmd and data in a temporary directory), and
 * removes the node when the command ends, however it ends. Exits with the command's status.
 *
 * Tests declare durable queues; one killed midway (a timeout, Ctrl+C, a mutant) cannot
 * delete its own, and on a long-lived broker they pile up until it takes minutes to start.
 * A node per run takes about 5 s and leaves nothing behind. With `AMQP_URL` already set, the
 * command runs against that broker instead, and nothing is started.
 *
 * @example
 *   node --import tsx tools/test-broker.ts node --import tsx --test lib/messaging.test.ts
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import process from 'node:process';
import { startPrivateBroker, type PrivateBroker } from './rabbitmq-node.ts';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node --import tsx tools/test-broker.ts <command> [args...]');
  process.exit(2);
}

let node: PrivateBroker | undefined;
if (!process.env.AMQP_URL) {
  try {
    node = await startPrivateBroker();
  } catch (error) {
    console.error(`tools/test-broker.ts: ${(error as Error).message}`);
    process.exit(1);
  }
}

const child = spawn(command, args, {
  stdio: 'inherit',
  env: node ? { ...process.env, AMQP_URL: node.url } : process.env,
});
// Ctrl+C reaches the command through the terminal's process group; a signal sent to this
// process alone is passed on. Either way the node is removed once the command has ended.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => child.kill(signal));
}
const status = await new Promise<number>((resolve) => {
  child.once('error', (error) => {
    console.error(`tools/test-broker.ts: cannot run ${command}: ${error.message}`);
    resolve(127);
  });
  child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
});
await node?.close();
process.exit(status);
