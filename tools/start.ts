/**
 * `npm start`: the whole landscape on this machine. Checks its ports first, uses the
 * Zipkin already answering on :9411 or starts a local Zipkin-API collector there (unless
 * ZIPKIN_URL names one), makes sure RabbitMQ is reachable, runs the four services and
 * stops everything when it stops.
 *
 *   RUNTIME=deno npm start                  # the services on Deno instead of Node
 *   ACCOUNTSERVICE_PORT=16767 npm start     # a service elsewhere (QUOTES_SERVICE_PORT, IMAGESERVICE_PORT, VIPSERVICE_PORT)
 *   ZIPKIN_PORT=19411 npm start             # the collector elsewhere
 *
 * Nothing it starts outlives it, however it ends: the services and a broker it started
 * hold a pipe from this process and stop when it closes (lib/server.ts, tools/rabbitmq.ts);
 * the collector runs in this process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { lock } from 'proper-lockfile';
import { ConfigError, envReader } from '../lib/config.ts';
import { startCollector, type RunningCollector } from './collector/index.ts';
import { DEFAULT_PORTS, portVariable, SERVICES, startLandscape, toolSettings, type Landscape, type Runtime, type ServiceName } from './landscape.ts';
import { ensureRabbitMQ, type EnsuredBroker } from './rabbitmq.ts';
import { listenProblem } from './wait.ts';

const DEFAULT_ZIPKIN_PORT = 9411;
const BANNER_ORDER: ServiceName[] = ['accountservice', 'quotes-service', 'imageservice', 'vipservice'];
const COLLECTOR_HOST = '127.0.0.1';

/** What has been started so far; the services stop first, while the collector and the broker they use still run. */
let landscape: Landscape | undefined;
let collector: RunningCollector | undefined;
let broker: EnsuredBroker | undefined;
let releaseDataDir: (() => Promise<void>) | undefined;
let stopping = false;

async function stop(code: number, reason?: string): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  if (reason) console.log(`stopping the landscape (${reason}) ...`);
  await landscape?.stop();
  await collector?.close();
  await broker?.stop();
  await releaseDataDir?.().catch(() => {});
  process.exit(code);
}

/** Ends the start with one line saying what is wrong and how to fix it. */
function fail(message: string): Promise<never> {
  console.error(message);
  return stop(1);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0, signal));
// npm hands a signal it gets to its script, and the script execs this process (package.json).
// A parent that ends without one (SIGKILL) leaves this process re-parented: that too stops everything.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && void stop(0, 'its parent process ended'), 500).unref();

try {
  const env = envReader();
  const runtime = env.oneOf<Runtime>('RUNTIME', 'node', ['node', 'deno']);
  const host = env.string('HOST', '127.0.0.1');
  const ports = Object.fromEntries(SERVICES.map((name) => [name, env.port(portVariable(name), DEFAULT_PORTS[name])])) as Record<
    ServiceName,
    number
  >;
  const zipkinPort = env.port('ZIPKIN_PORT', DEFAULT_ZIPKIN_PORT);
  const zipkinUrlSetting = env.optionalUrl('ZIPKIN_URL');
  const amqpUrl = env.url('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp:', 'amqps:']);
  // Each service's LMDB directory goes below it (accountservice/, vipservice/), as their own defaults place them below .data.
  const dataDir = env.string('DATA_DIR', '.data');

  const amqp = new URL(amqpUrl);
  checkDistinctPorts({
    ...Object.fromEntries(SERVICES.map((name) => [portVariable(name), ports[name]])),
    ...(zipkinUrlSetting ? {} : { ZIPKIN_PORT: zipkinPort }),
    // A broker on this machine, found or started for the run, takes its port too.
    ...(['127.0.0.1', 'localhost', '[::1]'].includes(amqp.hostname) ? { AMQP_URL: Number(amqp.port || 5672) } : {}),
  });
  await checkServicePorts(host, ports);
  releaseDataDir = await holdDataDir(dataDir);
  const zipkin = zipkinUrlSetting ? { url: zipkinUrlSetting, note: 'ZIPKIN_URL' } : await localZipkin(zipkinPort);
  broker = await ensureRabbitMQ(amqpUrl, { stopWithUs: true });
  landscape = await startLandscape({
    runtime,
    zipkinUrl: zipkin.url,
    amqpUrl,
    dataDir,
    ports,
    onLog: (_service, line) => console.log(line),
  });
  printBanner(runtime, landscape, zipkin, broker);
} catch (error) {
  await fail(error instanceof Error ? error.message : String(error));
}

/** One line for two settings that name the same port (0, any free port, can be shared), naming them. */
function checkDistinctPorts(ports: Record<string, number>): void {
  const byPort = new Map<number, string[]>();
  for (const [variable, port] of Object.entries(ports)) if (port !== 0) byPort.set(port, [...(byPort.get(port) ?? []), variable]);
  const shared = [...byPort].filter(([, variables]) => variables.length > 1);
  if (shared.length === 0) return;
  const say = ([port, variables]: [number, string[]]) =>
    variables.length === 2 ? `${variables[0]} and ${variables[1]} are both ${port}` : `${variables.join(', ')} are all ${port}`;
  throw new Error(`${shared.map(say).join('; ')}: give each its own port`);
}

/** One line for the ports the services cannot have, naming each port's service and variable. */
async function checkServicePorts(host: string, ports: Record<ServiceName, number>): Promise<void> {
  const taken: string[] = [];
  let denied = false;
  for (const name of SERVICES) {
    const problem = await listenProblem(ports[name], host);
    if (!problem) continue;
    if (problem === 'EADDRNOTAVAIL' || problem === 'ENOTFOUND' || problem === 'EAFNOSUPPORT') {
      throw new Error(`HOST ${host} is no address of this machine (${problem}); set HOST to one of its addresses, 127.0.0.1, or :: for every interface`);
    }
    denied ||= problem !== 'EADDRINUSE';
    taken.push(`${ports[name]} (${name}: ${portVariable(name)})`);
  }
  if (taken.length === 0) return;
  if (denied) throw new Error(`cannot listen on ${host} port ${taken.join(', ')}; set the variable to a port above 1023`);
  const what = taken.length === 1 ? `port ${taken[0]} is` : `ports ${taken.join(', ')} are`;
  throw new Error(
    `${what} in use on ${host}; is another npm start running? Stop it, or set the variable to a free port ` +
      '(a second landscape also needs a DATA_DIR and a VIP_QUEUE of its own)',
  );
}

/**
 * Holds DATA_DIR for this run: two landscapes on one directory would share accountservice's
 * outbox and vipservice's inbox, and hand one VIP notification out twice. The lock
 * (proper-lockfile: a directory in DATA_DIR whose time this run keeps fresh) goes stale 10 s
 * after a run that ended without releasing it (SIGKILL). Resolves with its release.
 */
async function holdDataDir(dataDir: string): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  try {
    return await lock(dataDir, {
      lockfilePath: join(dataDir, 'npm-start.lock'),
      stale: 10_000,
      update: 2_000,
      // Lost (its directory removed, the disk full): said, and the run goes on.
      onCompromised: (error) => console.error(`the lock on DATA_DIR ${dataDir} was lost: ${error.message}`),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    throw new Error(
      `DATA_DIR ${dataDir} is in use by another npm start: stop it, or give this one a DATA_DIR of its own ` +
        '(and a VIP_QUEUE of its own, or the two landscapes take each other\'s VIP notifications)',
    );
  }
}

/** The collector on ZIPKIN_PORT, or the Zipkin that already answers there. */
async function localZipkin(port: number): Promise<{ url: string; note: string }> {
  const url = `http://${COLLECTOR_HOST}:${port}`;
  const problem = await listenProblem(port, COLLECTOR_HOST);
  if (!problem) {
    collector = await startCollector({ port, hostname: COLLECTOR_HOST });
    return { url: collector.url, note: 'local collector' };
  }
  if (await answersZipkinApi(url)) return { url, note: 'a Zipkin that was already running' };
  throw new Error(
    `port ${port} (the local Zipkin collector: ZIPKIN_PORT) is in use by something that does not answer the Zipkin API; ` +
      'set ZIPKIN_PORT to a free port, or ZIPKIN_URL to a Zipkin you have',
  );
}

/** Whether a Zipkin server (or anything speaking its v2 API) answers at `url`. */
async function answersZipkinApi(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/api/v2/services`, { signal: AbortSignal.timeout(2000) });
    return response.ok && Array.isArray(await response.json());
  } catch {
    return false;
  }
}

function printBanner(runtime: Runtime, { services }: Landscape, zipkin: { url: string; note: string }, broker: EnsuredBroker): void {
  const host = services.accountservice.host;
  const where =
    host === '::'
      ? '::, every interface, IPv4 and IPv6'
      : host === '0.0.0.0'
        ? `0.0.0.0, every interface, IPv4 only${process.env['HOST'] === '::' ? ' (this machine has no IPv6)' : '; HOST=:: for IPv6 too'}`
        : `${host}, this machine only; HOST=:: for every interface`;
  const rows = BANNER_ORDER.map((name) => `  ${name.padEnd(15)} ${services[name].url}`).join('\n');
  // The tools read the same settings: a moved port or a Zipkin found elsewhere goes into the hints,
  // with the port taken where the setting was 0 (any free one).
  const local = `http://127.0.0.1:${process.env['ZIPKIN_PORT'] || DEFAULT_ZIPKIN_PORT}`;
  const taken = Object.fromEntries(SERVICES.filter((name) => process.env[portVariable(name)]).map((name) => [portVariable(name), String(services[name].port)]));
  const elsewhere = zipkin.url !== local;
  // ZIPKIN_URL, when given, says where the collector is; ZIPKIN_PORT then says nothing more.
  const settings = toolSettings({ ...process.env, ...taken, ZIPKIN_URL: elsewhere ? zipkin.url : undefined, ZIPKIN_PORT: elsewhere ? undefined : process.env['ZIPKIN_PORT'] });
  console.log(`
The landscape is running on ${runtime}, listening on ${where}:
${rows}
  Zipkin API      ${zipkin.url} (${zipkin.note})
  Traces          ${zipkin.url}/zipkin/
  RabbitMQ        ${broker.started ? 'started for this run; stopped with it' : 'already running; left as it is'}

Try:
  curl -i ${services.accountservice.url}/accounts/10000
  ${settings}npm run trace    # the latest trace as a waterfall
  ${settings}npm run load     # light traffic for a while

Ctrl+C stops everything.
`);
}
