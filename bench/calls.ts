/**
 * (7) What one call between services costs the caller: the exchange alone (the transport) and the
 * same call through ServiceClient, as accountservice makes it, on each runtime. The calling process
 * (bench/servers/call-cost.ts) is pinned to one core and the called one (bench/servers/downstream.ts,
 * Node) to the other, so the figures are the caller's own CPU, whatever else the machine runs.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { ROOT, type Runtime } from '../tools/landscape.ts';
import { median } from './load.ts';
import { pinToCpus, scriptCommand, startScript } from './processes.ts';

const run = promisify(execFile);

export interface CallCostSettings {
  rounds: number;
  perRound: number;
  concurrency: number;
}

export interface CallCost {
  runtime: Runtime;
  /** CPU µs per call, median over rounds. */
  exchangeUs: number;
  clientUs: number;
  /** ServiceClient − the exchange, median of the per-round differences. */
  addedUs: number;
  /** Whether caller and callee each had a core of their own. */
  pinned: boolean;
}

export interface CallCostResult {
  settings: CallCostSettings;
  runtimes: CallCost[];
}

export async function runCallCost(runtimes: Runtime[], settings: CallCostSettings, progress: (line: string) => void): Promise<CallCostResult> {
  const downstream = await startScript('downstream (calls)', 'downstream.ts');
  try {
    const pinned = os.availableParallelism() >= 2 && pinToCpus(downstream.process.pid!, '1');
    const results: CallCost[] = [];
    for (const runtime of runtimes) {
      progress(`7. a call between services on ${runtime}`);
      const [command, args] = scriptCommand(runtime, 'call-cost.ts');
      // taskset starts it on the first core (util-linux, as pinToCpus uses).
      const { stdout } = await run(pinned ? 'taskset' : command, pinned ? ['-c', '0', command, ...args] : args, {
        cwd: ROOT,
        env: {
          ...process.env,
          NO_COLOR: '1',
          DOWNSTREAM_URL: downstream.url,
          ROUNDS: String(settings.rounds),
          PER_ROUND: String(settings.perRound),
          CONCURRENCY: String(settings.concurrency),
        },
        maxBuffer: 16 * 1024 * 1024,
      });
      const { exchange, ServiceClient: client } = JSON.parse(stdout) as Record<'exchange' | 'ServiceClient', number[]>;
      results.push({
        runtime,
        exchangeUs: median(exchange),
        clientUs: median(client),
        addedUs: median(client.map((us, i) => us - exchange[i]!)),
        pinned,
      });
    }
    return { settings, runtimes: results };
  } finally {
    await downstream.stop();
  }
}
