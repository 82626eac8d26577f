/**
 * (5, the exporter alone) Spans at rising rates through lib/tracing's exporter with its
 * defaults and nothing else in the process (bench/servers/span-source.ts), into the
 * collector: where the exporter itself starts dropping, and how.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from '../tools/landscape.ts';
import { startCollectorProcess } from './processes.ts';

export interface SourceStep {
  rate: number;
  made: number;
  madePerSecond: number;
  sent: number;
  dropped: number;
  failedBatches: number;
}

export interface ExporterResult {
  stepS: number;
  steps: SourceStep[];
  /** Spans the collector accepted over all steps (a check on `sent`). */
  collectorAccepted: number;
  collectorRefusedPosts: number;
}

const run = promisify(execFile);

export async function runExporterAlone(rates: number[], stepS: number): Promise<ExporterResult> {
  const collector = await startCollectorProcess();
  try {
    const args = ['--import', 'tsx', 'bench/servers/span-source.ts', collector.url, rates.join(','), String(stepS)];
    const { stdout } = await run(process.execPath, args, { cwd: ROOT });
    const steps = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SourceStep);
    const stats = await collector.stats();
    const refused = Object.values(stats.refusedPosts).reduce((sum, n) => sum + n, 0);
    return { stepS, steps, collectorAccepted: stats.acceptedSpans, collectorRefusedPosts: refused };
  } finally {
    await collector.stop();
  }
}
