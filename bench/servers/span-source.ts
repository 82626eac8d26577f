/**
 * Spans at a set rate through lib/tracing's exporter, with nothing else in the process:
 * where the exporter's own limit lies. `node --import tsx bench/servers/span-source.ts
 * <collector url> <spans/s>,… <seconds per step>` prints one JSON line per step: spans
 * made, sent and dropped, and failed POSTs, after the exporter has had time to send.
 * Each span is shaped like accountservice's SERVER span (same tags, about 350 bytes).
 */
import process from 'node:process';
import { createLogger } from '../../lib/log.ts';
import { createZipkinExporter } from '../../lib/tracing/exporter.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { sleep } from '../../tools/wait.ts';

const [url = 'http://127.0.0.1:9411', rates = '5000', seconds = '3'] = process.argv.slice(2);
const log = createLogger({ service: 'span-source' }, { write: () => {} });
// The defaults runService uses: a batch a second (or as soon as 1000 wait), at most 10 000 spans waiting.
const exporter = createZipkinExporter({ url, log });
const tracing = new Tracing({ serviceName: 'accountservice', exporter, ipv4: '10.0.0.1' });
const TICK_MS = 10;

function emit(): void {
  const span = tracing.rootSpan('get', { kind: 'SERVER' });
  span.setName('get /accounts/:accountid');
  span.tag('http.method', 'GET');
  span.tag('http.path', '/accounts/10001');
  span.tag('http.route', '/accounts/:accountId');
  span.tag('http.status_code', 200);
  span.finish();
}

for (const rate of rates.split(',').map(Number)) {
  const before = exporter.stats();
  const perTick = rate / (1000 / TICK_MS);
  const started = performance.now();
  let made = 0;
  // Catch up by the clock each tick, so a late timer does not lower the rate.
  while (performance.now() - started < Number(seconds) * 1000) {
    const due = Math.floor(((performance.now() - started) / TICK_MS + 1) * perTick);
    for (; made < due; made++) emit();
    await sleep(TICK_MS);
  }
  const elapsedS = (performance.now() - started) / 1000;
  await sleep(2500);
  const after = exporter.stats();
  const line = {
    rate,
    made,
    madePerSecond: made / elapsedS,
    sent: after.sent - before.sent,
    dropped: after.dropped - before.dropped,
    failedBatches: after.failedBatches - before.failedBatches,
    queued: after.queued,
  };
  console.log(JSON.stringify(line));
}
process.exit(0);
