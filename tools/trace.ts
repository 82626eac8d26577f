/**
 * npm run trace [traceId | traceresponse] [-- --tags]
 * npm run trace -- --list
 *
 * Prints a trace as a waterfall, read from any server speaking the Zipkin v2 API at ZIPKIN_URL
 * (default http://127.0.0.1:<ZIPKIN_PORT>, 9411 unless set, where npm start's collector listens). Without a trace id, shows the most recent trace. The trace id
 * may come as a whole `traceresponse` header value. `--list` prints the recent traces instead.
 */
import { traceIdFromInput, type Span } from './collector/span.ts';
import { summarizeTrace } from './trace-tree.ts';
import { renderTraceList, renderWaterfall } from './waterfall.ts';

const USAGE = [
  'usage: npm run trace [traceId | traceresponse value] [-- --tags]   the latest or a given trace as a waterfall',
  '       npm run trace -- --list                                     the recent traces, newest first',
  '(reads ZIPKIN_URL, default http://127.0.0.1:<ZIPKIN_PORT, 9411 unless set>)',
].join('\n');
const LIST_LIMIT = 20;
const OPTIONS = ['--tags', '--list'];
const REQUEST_TIMEOUT_MS = 10_000;

class CliError extends Error {}

async function main(args: readonly string[]): Promise<void> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return;
  }
  // A traceresponse value starts with "00-", so only known options count as options.
  const unknownFlag = args.find((arg) => arg.startsWith('--') && !OPTIONS.includes(arg));
  if (unknownFlag) throw new CliError(`unknown option ${unknownFlag}\n${USAGE}`);
  const [traceId, ...extra] = args.filter((arg) => !OPTIONS.includes(arg));
  if (extra.length > 0) throw new CliError(`expected at most one trace id\n${USAGE}`);
  const list = args.includes('--list');
  if (list && traceId) throw new CliError(`--list takes no trace id\n${USAGE}`);

  const baseUrl = (process.env['ZIPKIN_URL'] || `http://127.0.0.1:${process.env['ZIPKIN_PORT'] || 9411}`).replace(/\/+$/, '');
  if (!URL.canParse(baseUrl)) throw new CliError(`ZIPKIN_URL is not a URL: ${baseUrl}`);
  const terminal = {
    width: process.stdout.columns || 100,
    color: Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'],
  };
  if (list) {
    const traces = await readJson<Span[][]>(await get(`${baseUrl}/api/v2/traces?limit=${LIST_LIMIT}`));
    const summaries = traces.map((spans) => summarizeTrace(spans)).filter((summary) => summary !== undefined);
    // Piped output keeps whole lines, for grep and friends.
    const width = process.stdout.isTTY ? terminal.width : Infinity;
    console.log(summaries.length > 0 ? renderTraceList(summaries, { ...terminal, width }) : `no traces recorded at ${baseUrl} in the last day`);
    return;
  }
  const spans = traceId ? await fetchTrace(baseUrl, traceId) : await fetchLatestTrace(baseUrl);
  console.log(renderWaterfall(spans, { ...terminal, showTags: args.includes('--tags') }));
}

async function fetchTrace(baseUrl: string, input: string): Promise<Span[]> {
  const id = traceIdFromInput(input);
  if (!id) {
    throw new CliError(`"${input}" is not a trace id (16 or 32 hex characters) nor a traceresponse value (00-<trace id>-<span id>-<flags>)`);
  }
  const response = await get(`${baseUrl}/api/v2/trace/${id}`);
  if (response.status === 404) throw new CliError(`trace ${id} not found at ${baseUrl}`);
  const spans = await readJson<Span[]>(response);
  if (spans.length === 0) throw new CliError(`trace ${id} not found at ${baseUrl}`);
  return spans;
}

async function fetchLatestTrace(baseUrl: string): Promise<Span[]> {
  const traces = await readJson<Span[][]>(await get(`${baseUrl}/api/v2/traces?limit=1`));
  const [latest] = traces;
  if (!latest || latest.length === 0) throw new CliError(`no traces recorded at ${baseUrl} yet`);
  return latest;
}

async function get(url: string): Promise<Response> {
  try {
    return await fetch(url, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: { accept: 'application/json' },
    });
  } catch (error) {
    throw new CliError(`cannot reach Zipkin at ${new URL(url).origin}: ${describeFetchError(error)}`);
  }
}

async function readJson<T>(response: Response): Promise<T> {
  if (!response.ok) {
    const body = (await response.text().catch(() => '')).slice(0, 200);
    throw new CliError(`GET ${response.url} answered ${response.status}${body ? `: ${body}` : ''}`);
  }
  try {
    return (await response.json()) as T;
  } catch {
    throw new CliError(`GET ${response.url} did not return JSON; is ZIPKIN_URL a Zipkin server?`);
  }
}

/** fetch hides the useful part (ECONNREFUSED, ENOTFOUND…) in its cause. */
function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000}s`;
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return 'code' in cause ? String(cause.code) : cause.message;
  return error instanceof Error ? error.message : String(error);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`trace: ${error instanceof CliError ? error.message : String(error)}`);
  process.exitCode = 1;
});
