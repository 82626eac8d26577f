/**
 * Starting the whole landscape on one machine, as child processes on Node or Deno:
 * used by `npm start`, the end-to-end tests and the benchmarks alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import process from 'node:process';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export type Runtime = 'node' | 'deno';
export const SERVICES = ['quotes-service', 'imageservice', 'vipservice', 'accountservice'] as const;
export type ServiceName = (typeof SERVICES)[number];
export const DEFAULT_PORTS: Record<ServiceName, number> = {
  accountservice: 6767,
  'quotes-service': 8080,
  imageservice: 7777,
  vipservice: 6868,
};
/** The variable that moves a service's port under `npm start` and `npm run load`: ACCOUNTSERVICE_PORT, QUOTES_SERVICE_PORT, … */
export const portVariable = (name: ServiceName) => `${name.toUpperCase().replace('-', '_')}_PORT`;

/**
 * What the local tools (`npm run load`, `npm run trace`) read of `npm start`'s settings, as a
 * shell prefix for the commands it suggests: `ACCOUNTSERVICE_PORT=16767 ZIPKIN_PORT=19411 `,
 * or '' with none of them set. Values are quoted for the shell where they need it.
 */
export function toolSettings(env: Record<string, string | undefined> = process.env): string {
  const names = [...SERVICES.map(portVariable), 'ZIPKIN_PORT', 'ZIPKIN_URL'];
  const quote = (value: string) => (/^[\w.:/@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);
  return names.flatMap((name) => (env[name] ? [`${name}=${quote(env[name])} `] : [])).join('');
}

export interface LandscapeOptions {
  runtime?: Runtime;
  zipkinUrl: string;
  amqpUrl: string;
  /** Where the services keep their data: accountservice in `<dataDir>/accountservice`, vipservice in `<dataDir>/vipservice`. */
  dataDir: string;
  /** Port per service; 0 (the default) lets the system pick a free one. */
  ports?: Partial<Record<ServiceName, number>>;
  /** Extra environment for every service, or per service. */
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Receives every log line (parsed JSON when it is JSON). */
  onLog?: (service: ServiceName, line: string) => void;
  /** How long a service may take to report it is listening. */
  startTimeoutMs?: number;
  /**
   * A command the service's own command line is handed to as arguments, to run it in other
   * conditions: `[deno, run, …, tools/without-ipv6.ts]` runs it as on a node without IPv6.
   */
  launcher?: string[];
}

export interface RunningService {
  name: ServiceName;
  /** Where it listens, as it says: 127.0.0.1 unless HOST says otherwise. */
  host: string;
  port: number;
  /** How to reach it from this machine. */
  url: string;
  process: ChildProcess;
  /** The environment it was started with (beyond this process's own). */
  env: Record<string, string>;
  /** Stops it with SIGTERM (SIGKILL after a grace period); resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface Landscape {
  services: Record<ServiceName, RunningService>;
  stop(): Promise<void>;
}

/** The command line that runs a service's main.ts on a runtime. */
export function serviceCommand(runtime: Runtime, name: ServiceName): [string, string[]] {
  const entry = `services/${name}/main.ts`;
  if (runtime === 'deno') return [`${ROOT}node_modules/.bin/deno`, ['run', '-A', entry]];
  return [process.execPath, ['--import', 'tsx', entry]];
}

export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  { runtime = 'node', onLog, startTimeoutMs = 30_000, launcher = [] }: Pick<LandscapeOptions, 'runtime' | 'onLog' | 'startTimeoutMs' | 'launcher'> = {},
): Promise<RunningService> {
  const [own, ownArgs] = serviceCommand(runtime, name);
  const [command, ...args] = [...launcher, own, ...ownArgs] as [string, ...string[]];
  // Standard input is a pipe the service watches: when this process ends, however it ends
  // (SIGKILL included), the pipe closes and the service stops gracefully.
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', STOP_ON_STDIN_CLOSE: 'true', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const { host, port } = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    const lines = createInterface({ input: child.stdout! });
    const errors = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      onLog?.(name, line);
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { host: string; port: number });
      }
    });
    errors.on('line', (line) => onLog?.(name, line));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before listening`));
    });
  });
  return {
    name,
    host,
    port,
    url: urlOf(host, port),
    process: child,
    env,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
}

/** The URL that reaches `host:port` from this machine: a wildcard address is reached through loopback. */
export function urlOf(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Starts the four services; accountservice last, pointed at the others. */
export async function startLandscape(options: LandscapeOptions): Promise<Landscape> {
  const { zipkinUrl, amqpUrl, dataDir, ports = {}, env = {}, serviceEnv = {} } = options;
  const envFor = (name: ServiceName, extra: Record<string, string> = {}) => ({
    ZIPKIN_URL: zipkinUrl,
    AMQP_URL: amqpUrl,
    PORT: String(ports[name] ?? 0),
    ...env,
    ...serviceEnv[name],
    ...extra,
  });
  const started: RunningService[] = [];
  const start = async (name: ServiceName, extra?: Record<string, string>) => {
    const service = await startService(name, envFor(name, extra), options);
    started.push(service);
    return service;
  };
  try {
    // Settle all three before going on, so a failure never leaves a sibling running unseen.
    const first = await Promise.allSettled([
      start('quotes-service'),
      start('imageservice'),
      start('vipservice', { DATA_DIR: join(dataDir, 'vipservice') }),
    ]);
    const failed = first.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const [quotes, images, vip] = first.map((result) => (result as PromiseFulfilledResult<RunningService>).value) as [
      RunningService,
      RunningService,
      RunningService,
    ];
    const accounts = await start('accountservice', {
      QUOTES_SERVICE_URL: quotes.url,
      IMAGE_SERVICE_URL: images.url,
      DATA_DIR: join(dataDir, 'accountservice'),
    });
    const services = {
      accountservice: accounts,
      'quotes-service': quotes,
      imageservice: images,
      vipservice: vip,
    };
    // Stops whatever runs under each name then, restarted services included.
    return { services, stop: () => stopAll(Object.values(services)) };
  } catch (error) {
    await stopAll(started);
    throw error;
  }
}

async function stopAll(services: RunningService[]): Promise<void> {
  await Promise.all(services.map((service) => service.stop()));
}
