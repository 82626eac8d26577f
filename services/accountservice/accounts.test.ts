import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createMemoryExporter } from '../../lib/tracing/exporter.ts';
import { openStore, openTable } from '../../lib/storage.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { AccountStore, FIRST_ACCOUNT_ID, IMAGE_FALLBACK, isAccountId, QUOTE_FALLBACK, VIP_ACCOUNT_ID } from './accounts.ts';

describe('AccountStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accounts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('seeds 100 accounts once, and reads them in a queryaccount span', async () => {
    const store = openStore(dir);
    const accounts = new AccountStore(store);
    assert.equal(await accounts.seed(), 100);
    assert.equal(await accounts.seed(), 0, 'seeding again adds nothing');

    const exporter = createMemoryExporter();
    const spans = exporter.spans;
    const tracing = new Tracing({ serviceName: 'accountservice', exporter });
    const root = tracing.rootSpan('get', { kind: 'SERVER' });
    assert.deepEqual(accounts.get('10000', root), { id: '10000', name: 'Person_0' });
    assert.deepEqual(accounts.get('10099', root), { id: '10099', name: 'Person_99' });
    assert.equal(accounts.get('10100', root), undefined);
    root.finish();
    const reads = spans.filter((s) => s.name === 'queryaccount');
    assert.equal(reads.length, 3);
    assert.deepEqual(reads.map((s) => s.tags['account.id']), ['10000', '10099', '10100']);
    for (const read of reads) assert.equal(read.tags['db.system'], 'lmdb');
    for (const read of reads) assert.equal(read.parentId, root.spanId);
    // In the table an earlier version wrote, so an upgrade finds its accounts.
    assert.deepEqual(openTable(store, 'accounts').get('10042'), { id: '10042', name: 'Person_42' });
    await store.close();

    // The seed survives a restart.
    const reopened = openStore(dir);
    assert.equal(await new AccountStore(reopened).seed(), 0);
    await reopened.close();
  });

  it('names the VIP, the first seeded account, and answers the fixed quote when quotes-service cannot', () => {
    assert.equal(VIP_ACCOUNT_ID, String(FIRST_ACCOUNT_ID));
    assert.deepEqual(QUOTE_FALLBACK, { quote: 'May the source be with you, always.', ipAddress: 'circuit-breaker', language: 'en' });
    assert.equal(IMAGE_FALLBACK.servedBy, 'fallback');
  });

  it('accepts 1 to 10 digits as an account id', () => {
    for (const id of ['1', '10000', '9999999999']) assert.ok(isAccountId(id), id);
    for (const id of ['', 'abc', '-1', '12345678901', '1e4', '10 000', '١٢']) assert.ok(!isAccountId(id), id);
  });
});
