import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import process from 'node:process';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { until } from '../tools/wait.ts';
import { ConfigError } from './config.ts';
import { createLogger } from './log.ts';
import { openRemedy, openStore, openTable, storeProblem } from './storage.ts';

const run = promisify(execFile);

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

  it("leaves its directory and files writable for the group (another user of it, as OpenShift's next UID in group 0), withholding from others what the umask did", async () => {
    const mode = (path: string) => statSync(path).mode & 0o777;
    const previous = process.umask(0o022);
    try {
      for (const [umask, dirMode, fileMode] of [[0o022, 0o775, 0o664], [0o077, 0o770, 0o660]] as const) {
        process.umask(umask);
        const directory = join(root, `umask-${umask.toString(8)}`, 'data');
        const store = openStore(directory, 'DATA_DIR');
        await openTable<number>(store, 't').put('k', 1);
        await store.close();
        assert.equal(mode(directory), dirMode, `the directory under umask ${umask.toString(8)}`);
        for (const file of ['data.mdb', 'lock.mdb']) assert.equal(mode(join(directory, file)), fileMode, `${file} under umask ${umask.toString(8)}`);
      }
    } finally {
      process.umask(previous);
    }
  });

  it('names the setting when the directory cannot be one', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory');
    assert.throws(
      () => openStore(file, 'DATA_DIR'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'DATA_DIR' &&
        error.message.includes(JSON.stringify(file)) &&
        /The path is a file, or lies below one, not a directory: point the setting at a directory/.test(error.message),
    );
    assert.throws(() => openStore(join(file, 'below'), 'DATA_DIR'), (error: unknown) => error instanceof ConfigError && /The path is a file/.test(error.message));
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
    assert.equal(openRemedy('EIO', root, { groups: [] }), undefined);
  });
});

describe('storeWriteProblem: writes that fail while reads go on', () => {
  const root = mkdtempSync(join(tmpdir(), 'writes-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('from the first failed commit until one succeeds: one line each way, the reason in both the line and the problem', async () => {
    // A process of its own under a soft `ulimit -f` (1 MiB), so LMDB's file cannot grow and real
    // commits fail once it is full; the limit is then lifted (prlimit) and the next commit succeeds.
    const script = `
      import { createInterface } from 'node:readline';
      import { createLogger } from './lib/log.ts';
      import { committed, openStore, openTable, storeProblem, storeWriteProblem } from './lib/storage.ts';
      const lines = [];
      const log = createLogger({ service: 'test' }, { write: (line) => lines.push(JSON.parse(line)) });
      const store = openStore(process.argv.at(-1), 'DATA_DIR', log);
      const table = openTable(store, 't');
      const before = storeWriteProblem(store);
      let written = 0;
      let failures = 0;
      while (failures < 3) await committed(table.put(written, 'x'.repeat(1000)), store).then(() => written++, () => failures++);
      const failing = storeWriteProblem(store);
      const readable = storeProblem(store) === undefined;
      console.log('full');
      const input = createInterface({ input: process.stdin });
      for await (const line of input) if (line === 'lifted') break;
      await committed(table.put('again', 1), store);
      console.log(JSON.stringify({ before, written, failing, readable, after: storeWriteProblem(store), lines }));
      await store.close();
      process.exit(0);
    `;
    const child = spawn('sh', ['-c', `ulimit -S -f 2048; exec "${process.execPath}" --import tsx --input-type=module --eval "$0" "$@"`, script, join(root, 'full')], {
      cwd: join(import.meta.dirname, '..'),
      // lmdb-js writes its commit errors to standard error itself.
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await until(() => stdout.includes('full\n'), 30_000, 'the store to fill');
    await run('prlimit', [`--pid=${child.pid}`, '--fsize=unlimited:']);
    child.stdin.end('lifted\n');
    assert.equal(await exited, 0, stdout);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(result.before, undefined);
    assert.ok(result.written > 100, `wrote until the limit (${result.written})`);
    assert.match(result.failing ?? '', /^writes fail since \S+: LMDB commit failed: (File too large|Input\/output error)/);
    assert.ok(result.readable, 'still readable');
    assert.equal(result.after, undefined, 'working again');
    assert.deepEqual(result.lines.map((l: { msg: string }) => l.msg), ['LMDB writes fail', 'LMDB writes work again'], 'one line for three failed writes, one for the first that succeeded');
    assert.match(String(result.lines[0].error), /LMDB commit failed/);
  });
});
