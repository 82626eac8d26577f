/**
 * Runs the development Zipkin collector standalone:
 *   PORT=9411 HOST=127.0.0.1 MAX_SPANS=200000 node --import tsx tools/collector/main.ts
 * QUERY_LOOKBACK (ms) and AUTOCOMPLETE_KEYS (comma-separated tag keys) mean what they mean to Zipkin.
 * Logs one JSON object per line on stdout; stops cleanly on SIGINT/SIGTERM.
 */
import { DEFAULT_AUTOCOMPLETE_KEYS } from './app.ts';
import { startCollector } from './server.ts';
import { DEFAULT_LOOKBACK_MS } from './trace-query.ts';
import { DEFAULT_MAX_SPANS } from './span-store.ts';

function logLine(level: 'info' | 'error', fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, ...fields })}\n`);
}

function integerFromEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    logLine('error', { event: 'invalid configuration', [name]: text, expected: `integer ${min}..${max}` });
    process.exit(1);
  }
  return value;
}

const port = integerFromEnv('PORT', 9411, 0, 65_535);
const maxSpans = integerFromEnv('MAX_SPANS', DEFAULT_MAX_SPANS, 1, Number.MAX_SAFE_INTEGER);
const hostname = process.env['HOST'] || '127.0.0.1';
const queryLookback = integerFromEnv('QUERY_LOOKBACK', DEFAULT_LOOKBACK_MS, 1, Number.MAX_SAFE_INTEGER);
const autocompleteKeys = process.env['AUTOCOMPLETE_KEYS'] === undefined
  ? DEFAULT_AUTOCOMPLETE_KEYS
  : process.env['AUTOCOMPLETE_KEYS'].split(',').map((key) => key.trim()).filter(Boolean);

const collector = await startCollector({
  port,
  hostname,
  maxSpans,
  queryLookback,
  autocompleteKeys,
  log: (event) => logLine('info', event),
}).catch((error: unknown) => {
  logLine('error', { event: 'collector failed to start', port, hostname, error: String(error) });
  process.exit(1);
});
logLine('info', { event: 'collector listening', url: collector.url, ui: `${collector.url}/zipkin/`, maxSpans });

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  // A second signal means the user does not want to wait for open requests.
  if (stopping) process.exit(1);
  stopping = true;
  logLine('info', { event: 'collector stopping', signal });
  await collector.close();
  logLine('info', { event: 'collector stopped' });
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
