/**
 * `npm start`: the whole landscape on this machine. Starts a local Zipkin-API
 * collector on :9411 (unless ZIPKIN_URL names one), makes sure RabbitMQ is reachable,
 * runs the four services on their usual ports and stops everything on Ctrl+C.
 *
 *   RUNTIME=deno npm start     # the services on Deno instead of Node
 */
import process from 'node:process';
import { startCollector, type RunningCollector } from './collector/index.ts';
import { DEFAULT_PORTS, startLandscape, type Runtime } from './landscape.ts';
import { ensureRabbitMQ } from './rabbitmq.ts';

const runtime = (process.env.RUNTIME ?? 'node') as Runtime;
if (runtime !== 'node' && runtime !== 'deno') {
  console.error(`RUNTIME: expected node or deno, got ${JSON.stringify(runtime)}`);
  process.exit(1);
}
const amqpUrl = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';

try {
  await ensureRabbitMQ(amqpUrl);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

let collector: RunningCollector | undefined;
if (!process.env.ZIPKIN_URL) collector = await startCollector({ port: 9411 });
const zipkinUrl = process.env.ZIPKIN_URL || collector!.url;

const landscape = await startLandscape({
  runtime,
  zipkinUrl,
  amqpUrl,
  dataDir: '.data',
  ports: DEFAULT_PORTS,
  onLog: (_service, line) => console.log(line),
}).catch(async (error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  await collector?.close();
  process.exit(1);
});

const { accountservice, imageservice, 'quotes-service': quotes, vipservice } = landscape.services;
console.log(`
The landscape is running on ${runtime}:
  accountservice  ${accountservice.url}
  quotes-service  ${quotes.url}
  imageservice    ${imageservice.url}
  vipservice      ${vipservice.url}
  Zipkin API      ${zipkinUrl}${collector ? ' (local collector)' : ''}

Try:
  curl -i ${accountservice.url}/accounts/10000
  npm run trace            # the latest trace as a waterfall

Ctrl+C stops everything.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping the landscape ...');
    await landscape.stop();
    await collector?.close();
    process.exit(0);
  });
}
