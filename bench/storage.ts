/**
 * (3) The raw LMDB read behind `queryaccount`, on the store accountservice wrote during
 * the end-to-end run, on Node and Deno (bench/servers/lmdb-read.ts): what the span would
 * measure without the work of recording it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, type Runtime } from '../tools/landscape.ts';

export interface ReadTiming {
  medianUs: number;
  p99Us: number;
  meanUs: number;
}

export interface LmdbReadResult {
  runtime: Runtime;
  reads: number;
  /** The table's get alone. */
  raw: ReadTiming;
  /** AccountStore.get: the get inside a recorded `queryaccount` span, encoded for export. */
  traced: ReadTiming;
}

const run = promisify(execFile);

export async function runLmdbRead(runtime: Runtime, dataDir: string, reads: number): Promise<LmdbReadResult> {
  const script = 'bench/servers/lmdb-read.ts';
  const [command, args] =
    runtime === 'deno'
      ? [`${ROOT}node_modules/.bin/deno`, ['run', '-A', script, dataDir]]
      : [process.execPath, ['--import', 'tsx', script, dataDir]];
  const { stdout } = await run(command, args, { cwd: ROOT, env: { ...process.env, READS: String(reads) } });
  const { raw, traced } = JSON.parse(stdout) as Pick<LmdbReadResult, 'raw' | 'traced'>;
  return { runtime, reads, raw, traced };
}
