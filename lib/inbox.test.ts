import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Inbox } from './inbox.ts';
import { openStore, openTable } from './storage.ts';

describe('Inbox on LMDB', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inbox-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let stores = 0;
  const store = () => openStore(join(dir, `store-${++stores}`));

  it('claims an id once while it is handled; a released claim can be taken again, a completed one never', async () => {
    const db = store();
    const inbox = new Inbox({ store: db });
    assert.equal(inbox.size, 0);
    assert.equal(inbox.claim('a'), true);
    assert.equal(inbox.claim('a'), false, 'being handled');
    assert.equal(inbox.claim('b'), true, 'another id');
    inbox.release('a');
    assert.equal(inbox.claim('a'), true, 'released: a redelivery is handled');
    await inbox.complete('a');
    assert.equal(inbox.size, 1);
    assert.equal(inbox.claim('a'), false, 'handled');
    await inbox.complete('b');
    assert.equal(inbox.size, 2);
    await db.close();
  });

  it('keeps the ids in the store’s tables inbox-ids and inbox-order, where a restarted or updated service finds them', async () => {
    const path = join(dir, 'kept');
    const first = openStore(path);
    const inbox = new Inbox({ store: first });
    for (const id of ['a', 'b']) {
      inbox.claim(id);
      await inbox.complete(id);
    }
    const keys = [...openTable<string, number>(first, 'inbox-order').getRange()].map(({ key, value }) => ({ key, value }));
    assert.deepEqual(keys.map(({ value }) => value), ['a', 'b'], 'oldest first');
    assert.deepEqual(
      keys.map(({ value }) => openTable<number, string>(first, 'inbox-ids').get(value)),
      keys.map(({ key }) => key),
      'each id names its place in the order',
    );
    await first.close();

    const again = openStore(path);
    const restarted = new Inbox({ store: again });
    assert.equal(restarted.size, 2);
    assert.equal(restarted.claim('a'), false);
    assert.equal(restarted.claim('b'), false);
    assert.equal(restarted.claim('c'), true);
    await again.close();
  });

  it('forgets the oldest ids beyond its capacity, and only those', async () => {
    const db = store();
    const inbox = new Inbox({ store: db, capacity: 2 });
    for (const id of ['a', 'b', 'c']) {
      assert.equal(inbox.claim(id), true);
      await inbox.complete(id);
    }
    assert.equal(inbox.size, 2);
    assert.equal(inbox.claim('b'), false, 'kept');
    assert.equal(inbox.claim('c'), false, 'kept');
    assert.equal(inbox.claim('a'), true, 'forgotten: handled again if it came again');
    await inbox.complete('a');
    assert.equal(inbox.claim('b'), true, 'now b is the oldest, forgotten');
    assert.equal(inbox.claim('c'), false);
    assert.equal(inbox.size, 2);
    await db.close();
  });

  it('rejects with LMDB’s reason when the id cannot be recorded, and gives the claim up', async () => {
    const db = store();
    const inbox = new Inbox({ store: db });
    const tooLong = 'x'.repeat(2000); // over LMDB's key size limit
    assert.equal(inbox.claim(tooLong), true);
    await assert.rejects(inbox.complete(tooLong), /Key size is larger than the maximum key size/);
    assert.equal(inbox.size, 0);
    assert.equal(inbox.claim(tooLong), true, 'not recorded: a redelivery is handled');
    assert.equal(inbox.claim('a'), true);
    await inbox.complete('a');
    assert.equal(inbox.size, 1, 'the inbox works on');
    await db.close();
  });
});
