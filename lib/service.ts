/**
 * What every service shares: configuration from the environment, JSON logs, a tracer
 * exporting to Zipkin, the tracing middleware, `/health`, JSON errors, and a graceful
 * stop on SIGTERM. A service supplies only its own routes, checks and resources.
 */
import process from 'node:process';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { accessLog, logRefusedRequest, MAX_PATH_LENGTH } from './access-log.ts';
import { ConfigError, envReader, type EnvReader } from './config.ts';
import { headRequests, isHead } from './head.ts';
import { ownAddress, type OwnAddress } from './instance.ts';
import { createLogger, isLogLevel, withoutPassword, type Logger } from './log.ts';
import { EVERY_INTERFACE, listen, onTermination, type RunningServer } from './server.ts';
import { createZipkinExporter } from './tracing/exporter.ts';
import { traceRefusedRequest, tracingMiddleware, type TracingVariables } from './tracing/middleware.ts';
import { Tracing } from './tracing/tracer.ts';

export type ServiceEnv = { Variables: TracingVariables };
export type ServiceApp = Hono<ServiceEnv>;

/** A check returns what is wrong, or nothing when the dependency is usable. */
export type HealthCheck = () => string | undefined;

export interface ServiceParts {
  /** Registers the service's own routes. */
  routes(app: ServiceApp): void;
  /** Dependencies that must be usable for the service to report UP. */
  checks?: Record<string, HealthCheck>;
  /**
   * The checks without which the service cannot answer requests at all (all of them
   * unless named here): only these gate `/health/ready`, so a dependency whose outage the
   * service rides out (a broker behind an outbox) does not take it out of a load balancer.
   */
  readiness?: string[];
  /** Extra state shown in `/health` (breakers, queues). */
  details?: () => Record<string, unknown>;
  /**
   * Releases the service's resources, after the last request has finished. `deadline` (a `Date.now()`
   * time) is when the stop's last part, the spans' flush, begins: work that may wait on something
   * outside (a broker's confirm) is bounded by it, so the stop ends cleanly within SHUTDOWN_TIMEOUT_MS.
   */
  close?: (stop: { deadline: number }) => Promise<void>;
}

export interface ServiceContext {
  env: EnvReader;
  log: Logger;
  tracing: Tracing;
  /** This instance's own address (POD_IP, else the host's), as its spans carry it. */
  address: OwnAddress;
}

export interface ServiceDefinition {
  name: string;
  defaultPort: number;
  setup(context: ServiceContext): ServiceParts | Promise<ServiceParts>;
}

export interface AppOptions {
  tracing: Tracing;
  log: Logger;
  parts: ServiceParts;
  /**
   * Enables the switches tests use to inject faults: `/testability/healthy/:state`
   * (health reports DOWN) and `/testability/failing/:state` (every other route answers 503).
   */
  testability?: boolean;
  /**
   * Settings that are wrong but that the service serves despite (each naming the fix): `/health`
   * reports DOWN with them, `/health/ready` does not, as restarting or unlisting the pod mends nothing.
   */
  misconfigured?: string[];
}

/** The methods a route of `app` answers at `path`, HEAD wherever GET is: an `Allow` field's list (RFC 9110 §10.2.1). */
function allowedMethods(app: ServiceApp, path: string): string[] {
  const routed = (method: string) =>
    app.router.match(method, path)[0].some(([[, route]]) => (route as { method: string }).method !== 'ALL');
  return ROUTED_METHODS.filter(routed).flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method]));
}

const ROUTED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** A fetch-ready app with the shared middleware, `/health` and JSON errors. */
export function createServiceApp({ tracing, log, parts, testability = false, misconfigured = [] }: AppOptions) {
  const app: ServiceApp = new Hono<ServiceEnv>();
  const state = { stopping: false, forcedDown: false, failing: false, lastRequestAt: 0 };

  app.use(async (c, next) => {
    const counted = !c.req.path.startsWith('/health');
    if (counted) state.lastRequestAt = Date.now();
    await next();
    // Its end counts too: requests queued behind a long one reach the app only once it is done.
    if (counted) state.lastRequestAt = Date.now();
  });
  // Before the health routes: a HEAD of those gets its content-length too.
  app.use(headRequests());

  // `ready`: only what keeps requests from being answered (the readiness checks; no misconfiguration).
  const problems = (ready: boolean) => {
    const names = ready ? parts.readiness : undefined;
    const found: string[] = [];
    if (state.stopping) found.push('shutting down');
    if (state.forcedDown) found.push('set unhealthy through the testability switch');
    if (!ready) for (const problem of misconfigured) found.push(`configuration: ${problem}`);
    for (const [name, check] of Object.entries(parts.checks ?? {})) {
      if (names && !names.includes(name)) continue;
      const problem = check();
      if (problem) found.push(`${name}: ${problem}`);
    }
    return found;
  };
  const report = (c: Context<ServiceEnv>, found: string[], details?: Record<string, unknown>) =>
    found.length > 0
      ? c.json({ status: 'DOWN', reason: found.join('; '), ...(details && { details }) }, 503)
      : c.json({ status: 'UP', ...(details && { details }) });

  // Everything this service depends on, for people and monitoring.
  app.get('/health', (c) => report(c, problems(false), parts.details?.()));
  // For a load balancer: can requests be answered now?
  app.get('/health/ready', (c) => report(c, problems(true)));
  // For a supervisor: is the process serving at all? Dependencies are not its concern: restarting cannot mend them.
  app.get('/health/live', (c) => c.json({ status: 'UP' }));
  // The health routes are registered before the tracing middleware and the access log, so probes
  // (every few seconds per pod) are neither traced nor logged: they would bury the traces and log
  // lines of real requests. Everything below is both.
  app.use(tracingMiddleware({ tracing, log }));
  app.use(accessLog());

  if (testability) {
    const toggle = (key: 'forcedDown' | 'failing', inverted: boolean) => (c: Context<ServiceEnv>) => {
      const value = c.req.param('state');
      if (value !== 'true' && value !== 'false') return c.json({ error: 'state must be true or false' }, 400);
      const next = (value === 'true') !== inverted;
      // A HEAD learns what the GET would answer, and switches nothing.
      if (!isHead(c)) state[key] = next;
      return c.json({ [key]: next });
    };
    app.get('/testability/healthy/:state', toggle('forcedDown', true));
    app.get('/testability/failing/:state', toggle('failing', false));
    app.use(async (c, next) => {
      if (state.failing && !c.req.path.startsWith('/testability/') && !c.req.path.startsWith('/health')) {
        return c.json({ error: 'failing on purpose (testability switch)' }, 503);
      }
      await next();
    });
  }

  parts.routes(app);

  // A HEAD is routed as a GET and answers as the GET would, content-length included. A path that
  // routes other methods answers 405 with what it allows (RFC 9110 §15.5.6), any other 404.
  app.notFound((c) => {
    const method = isHead(c) ? 'GET' : c.req.method;
    const path = c.req.path.slice(0, MAX_PATH_LENGTH);
    const allowed = allowedMethods(app, c.req.path).join(', ');
    if (!allowed) return c.json({ error: `no route for ${method} ${path}` }, 404);
    return c.json({ error: `${method} is not allowed on ${path}; it answers ${allowed}` }, 405, { allow: allowed });
  });
  app.onError((error, c) => {
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: error.message || 'bad request' }, error.status);
    }
    // The access line logs it, with the request's trace ids.
    return c.json({ error: 'internal error' }, 500);
  });

  return { app, state };
}

/**
 * Keeps serving after the stop signal until requests have stopped arriving for a quiet
 * spell (or `maxMs` passed): requests already sent on open connections but not yet read
 * by a busy event loop are answered rather than reset, and a load balancer has time to
 * see `/health` turn DOWN.
 */
async function drain(state: { lastRequestAt: number }, maxMs: number, quietMs = 200): Promise<void> {
  const until = Date.now() + maxMs;
  while (Date.now() - state.lastRequestAt < quietMs && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How long before SHUTDOWN_TIMEOUT_MS runs out a stop sends the spans of what has finished, at most (and at most a quarter of it), in ms. */
const LAST_FLUSH_MS = 2000;

/** Starts a service from its definition; exits with a message if configuration is bad. */
export async function runService(definition: ServiceDefinition): Promise<RunningServer> {
  const env = envReader();
  const bootLog = createLogger({ service: definition.name });
  try {
    const level = env.string('LOG_LEVEL', 'info');
    if (!isLogLevel(level)) throw new ConfigError('LOG_LEVEL', `expected debug, info, warn or error, got ${JSON.stringify(level)}`);
    const log = createLogger({ service: definition.name }, { level });
    const port = env.port('PORT', definition.defaultPort);
    const host = env.string('HOST', '127.0.0.1');
    const stopOnStdinClose = env.boolean('STOP_ON_STDIN_CLOSE', false);
    const zipkinUrl = env.url('ZIPKIN_URL', 'http://127.0.0.1:9411');
    const sampleRate = env.number('TRACING_SAMPLE_RATE', 1, { min: 0, max: 1 });
    const testability = env.boolean('TESTABILITY_ENABLED', false);
    const shutdownTimeoutMs = env.milliseconds('SHUTDOWN_TIMEOUT_MS', 10_000);
    const exportIntervalMs = env.milliseconds('ZIPKIN_EXPORT_INTERVAL_MS', 1000, { min: 10, max: 60_000 });
    const exporter = createZipkinExporter({ url: zipkinUrl, log, intervalMs: exportIntervalMs });
    // A wrong POD_IP costs the spans their address only: said once here and in /health, never a stop.
    const { problem: addressProblem, ...address } = ownAddress(process.env['POD_IP']);
    if (addressProblem) bootLog.error('bad configuration', { variable: 'POD_IP', error: addressProblem });
    const tracing = new Tracing({ serviceName: definition.name, exporter, sampleRate, ...address });

    const parts = await definition.setup({ env, log, tracing, address });
    const misconfigured = addressProblem ? [addressProblem] : [];
    const { app, state } = createServiceApp({ tracing, log, parts, testability, misconfigured });
    const server = await listen(app.fetch, port, {
      hostname: host,
      refusedHeaders: (request) => {
        const span = traceRefusedRequest(tracing, request);
        logRefusedRequest(log, span, request);
        return { traceresponse: span.traceresponse };
      },
    }).catch((error: unknown) => {
      throw listenConfigError(error, host, port) ?? error;
    });
    if (server.ipv6Unavailable) {
      bootLog.warn('no IPv6 on this node: listening on IPv4 only', {
        host: server.host,
        requested: host,
        error: server.ipv6Unavailable,
        fix: 'none needed on an IPv4-only node; where IPv6 is wanted, boot the node with it (not ipv6.disable=1)',
      });
    }
    // Written whatever LOG_LEVEL says: it announces the address, and launchers (npm start, the tests) wait for it.
    bootLog.info('listening', { host: server.host, port: server.port, zipkin: withoutPassword(zipkinUrl), sampleRate, testability, ...address });

    onTermination(async (cause) => {
      log.info('stopping', { cause });
      state.stopping = true;
      // Should the steps below hang (a request that never ends, a close that never returns), the spans
      // of what has finished still go out: sent early in the timeout's last quarter, while the stop
      // goes on until the timeout itself.
      const lastPartMs = shutdownTimeoutMs - Math.min(LAST_FLUSH_MS, shutdownTimeoutMs / 4);
      const closeBy = Date.now() + lastPartMs;
      const earlyFlush = setTimeout(() => void tracing.flush(), lastPartMs);
      const deadline = setTimeout(() => {
        log.error('stop timed out; exiting', { timeoutMs: shutdownTimeoutMs });
        process.exit(1);
      }, shutdownTimeoutMs);
      try {
        await drain(state, Math.min(2000, shutdownTimeoutMs / 2));
        await server.close();
        await parts.close?.({ deadline: closeBy });
        await tracing.flush();
        log.info('stopped');
      } catch (error) {
        log.error('stop failed', { error });
        process.exitCode = 1;
      }
      clearTimeout(earlyFlush);
      clearTimeout(deadline);
      process.exit();
    }, { onStdinClose: stopOnStdinClose });
    return server;
  } catch (error) {
    if (error instanceof ConfigError) {
      bootLog.error('bad configuration', { variable: error.variable, error: error.message });
    } else {
      bootLog.error('failed to start', { error });
    }
    process.exit(1);
  }
}

/** A failure to listen that the HOST or PORT setting explains, as a ConfigError naming it. */
function listenConfigError(error: unknown, host: string, port: number): ConfigError | undefined {
  const code = (error as { code?: unknown })?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError('PORT', `${where} is already in use: stop what listens there, or set PORT to a free port (0: any)`);
    case 'EACCES':
      return new ConfigError('PORT', `not permitted to listen on ${where}: choose a PORT above 1023, or grant the permission`);
    case 'EAFNOSUPPORT':
      return new ConfigError('HOST', `${JSON.stringify(host)} is an IPv6 address and this machine has no IPv6: use 127.0.0.1 (this machine only) or ${EVERY_INTERFACE} (every interface, IPv4 only where there is no IPv6)`);
    case 'EINVAL':
      return new ConfigError(
        'HOST',
        `${JSON.stringify(host)} cannot be listened on as given (a link-local IPv6 address needs its interface, as fe80::1%eth0): use 127.0.0.1 or ::1 (this machine only), or ${EVERY_INTERFACE} (every interface, IPv4 and IPv6)`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(
        'HOST',
        `${JSON.stringify(host)} is not an address of this machine: use 127.0.0.1 or ::1 (this machine only), or ${EVERY_INTERFACE} (every interface, IPv4 and IPv6; 0.0.0.0 is IPv4 only)`,
      );
    default:
      return undefined;
  }
}
