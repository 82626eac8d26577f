import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from './config.ts';
import { openStore, openTable } from './storage.ts';

describe('openStore', () => {
  // mkdtemp names like mktemp -d's (`tmp.x1Yz…`) end in what looks like an extension.
  const root = mkdtempSync(join(tmpdir(), 'store.'));
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const name of ['accounts.v2', 'tmp.hquCUI7lFD', '.data', 'plain']) {
    it(`keeps the store inside a directory named ${name}, across a reopen`, async () => {
      const directory = join(root, name);
      const store = openStore(directory, 'DATA_DIR');
      await openTable<number>(store, 't').put('k', 1);
      await store.close();
      assert.deepEqual(readdirSync(directory).sort(), ['data.mdb', 'lock.mdb']);
      const reopened = openStore(directory, 'DATA_DIR');
      assert.equal(openTable<number>(reopened, 't').get('k'), 1);
      await reopened.close();
    });
  }

  it('names the setting when the directory cannot be one', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    assert.throws(
      () => openStore(file, 'DATA_DIR'),
      (error: unknown) =>
        error instanceof ConfigError && error.variable === 'DATA_DIR' && error.message.includes(JSON.stringify(file)),
    );
    assert.throws(() => openStore(join(file, 'below'), 'DATA_DIR'), ConfigError);
  });
});
