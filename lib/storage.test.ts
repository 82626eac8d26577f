import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import process from 'node:process';
import { ConfigError } from './config.ts';
import { createLogger } from './log.ts';
import { committed, openRemedy, openStore, openTable, storeProblem, storeWriteProblem } from './storage.ts';

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

describe('openRemedy: what the operator of a store that would not open should do', () => {
  const root = mkdtempSync(join(tmpdir(), 'remedy-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("a directory this process may not write: its owner and mode, the process's user and groups, and fsGroup", () => {
    const directory = join(root, 'data');
    mkdirSync(directory);
    chmodSync(directory, 0o755);
    // As root the test can give it to another user, as a volume of another pod's user would be.
    if (process.getuid?.() === 0) chownSync(directory, 4242, 4242);
    const owner = process.getuid?.() === 0 ? 4242 : process.getuid?.();
    for (const code of ['EACCES', 13, 'EPERM']) {
      const remedy = openRemedy(code, directory, { uid: 1000680000, groups: [0] }) ?? '';
      assert.match(remedy, new RegExp(`owned by uid ${owner} gid \\d+ with mode 755, this process runs as uid 1000680000 in groups 0`));
      assert.match(remedy, /securityContext\.fsGroup/);
    }
  });

  it('a read-only volume and a full one, by name or by errno', () => {
    for (const code of ['EROFS', 30]) assert.match(openRemedy(code, root, { groups: [] }) ?? '', /mounted read-only: mount it writable/);
    for (const code of ['ENOSPC', 28, 'EDQUOT']) assert.match(openRemedy(code, root, { groups: [] }) ?? '', /volume is full/);
    assert.equal(openRemedy('ENOTDIR', root, { groups: [] }), undefined);
  });
});

describe('storeWriteProblem: writes that fail while reads go on', () => {
  const root = mkdtempSync(join(tmpdir(), 'writes-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A write rejected as lmdb-js rejects one whose commit failed: the reason in commitError. */
  const failedCommit = (code: number, message: string) => {
    const commitError = Promise.reject(Object.assign(new Error(message), { code }));
    commitError.catch(() => undefined);
    return Promise.reject(Object.assign(new Error('Commit failed (see commitError for details)'), { commitError }));
  };

  it('from the first failed commit until one succeeds: one line each way, the remedy in both the line and the problem', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ service: 'test' }, { write: (line) => lines.push(JSON.parse(line)) });
    const store = openStore(join(root, 'full'), 'DATA_DIR', log);
    assert.equal(storeWriteProblem(store), undefined);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(committed(failedCommit(28, 'No space left on device'), store), /LMDB commit failed: No space left on device/);
    }
    assert.match(storeWriteProblem(store) ?? '', /^writes fail since \S+: LMDB commit failed: No space left on device\. The volume is full/);
    assert.equal(storeProblem(store), undefined, 'still readable');
    assert.deepEqual(lines.map((l) => l.msg), ['LMDB writes fail'], 'one line for three failed writes');
    assert.match(String(lines[0]!.remedy), /volume is full/);
    await committed(openTable<number>(store, 't').put('k', 1), store);
    assert.equal(storeWriteProblem(store), undefined);
    assert.deepEqual(lines.map((l) => l.msg), ['LMDB writes fail', 'LMDB writes work again']);
    await store.close();
  });
});
