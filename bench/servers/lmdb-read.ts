/**
 * The raw LMDB read under accountservice's `queryaccount` span, on whichever runtime runs
 * it: `node --import tsx bench/servers/lmdb-read.ts <DATA_DIR>` or `deno run -A …`. Reads
 * the seeded accounts of a store accountservice wrote, once bare (the table's get) and
 * once as accountservice does it (AccountStore.get inside a recorded span, spans encoded
 * and discarded), and prints JSON: µs per read, median and p99, one timing per read.
 */
import process from 'node:process';
import { openStore, openTable } from '../../lib/storage.ts';
import { encodeBatch } from '../../lib/tracing/exporter.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import {
  AccountStore,
  FIRST_ACCOUNT_ID,
  SEEDED_ACCOUNTS,
  type StoredAccount,
} from '../../services/accountservice/accounts.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: lmdb-read.ts <DATA_DIR>');
const READS = Number(process.env['READS'] ?? 200_000);

const store = openStore(dataDir);
const table = openTable<StoredAccount>(store, 'accounts');
const accounts = new AccountStore(store);
const tracing = new Tracing({
  serviceName: 'accountservice',
  exporter: { logSpan: (span) => void encodeBatch([span]) },
  ipv4: '10.0.0.1',
});
const parent = tracing.rootSpan('get /accounts/:accountid', { kind: 'SERVER' });
const ids = Array.from({ length: SEEDED_ACCOUNTS }, (_, i) => String(FIRST_ACCOUNT_ID + i));

function time(read: (id: string) => unknown): { medianUs: number; p99Us: number; meanUs: number } {
  const samples = new Float64Array(READS);
  const started = performance.now();
  for (let i = 0; i < READS; i++) {
    const id = ids[i % ids.length]!;
    const t0 = performance.now();
    if (read(id) === undefined) throw new Error(`account ${id} missing: is ${dataDir} accountservice's store?`);
    samples[i] = (performance.now() - t0) * 1000;
  }
  const meanUs = ((performance.now() - started) * 1000) / READS;
  samples.sort();
  return { medianUs: samples[Math.floor(READS / 2)]!, p99Us: samples[Math.floor(READS * 0.99)]!, meanUs };
}

const raw = () => time((id) => table.get(id));
const traced = () => time((id) => accounts.get(id, parent));
// Warm-up, then alternating, keeping the second round of each.
raw();
traced();
const result = { raw: raw(), traced: traced() };
console.log(JSON.stringify(result));
await store.close();
process.exit(0);
