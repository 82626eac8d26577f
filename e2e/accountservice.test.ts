/**
 * accountservice on its own, as a real process on Node and on Deno: a DATA_DIR is a
 * directory whatever its name (lmdb-js would take `accounts.v2` or a mktemp name for a
 * file), one it cannot use stops it with one line naming DATA_DIR, and the image fallback
 * points at the placeholder it serves itself, under PUBLIC_URL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { startService } from '../tools/landscape.ts';
import { freePort } from '../tools/wait.ts';
import { AMQP_URL } from './support.ts';

for (const runtime of ['node', 'deno'] as const) {
  describe(`accountservice on ${runtime}`, () => {
    // Named as mktemp -d names directories: the last part has a dot.
    const root = mkdtempSync(join(tmpdir(), 'tmp.'));
    after(() => rmSync(root, { recursive: true, force: true }));

    const env = async (dataDir: string) => {
      const nowhere = `http://127.0.0.1:${await freePort()}`;
      return {
        PORT: '0',
        DATA_DIR: dataDir,
        AMQP_URL,
        ZIPKIN_URL: nowhere,
        QUOTES_SERVICE_URL: nowhere,
        IMAGE_SERVICE_URL: nowhere,
        PUBLIC_URL: 'https://shop.example/',
        RETRY_ATTEMPTS: '1',
      };
    };

    it('keeps its accounts in a DATA_DIR named accounts.v2, and points the image fallback at its placeholder under PUBLIC_URL', async () => {
      const dataDir = join(root, 'accounts.v2');
      const accountservice = await startService('accountservice', await env(dataDir), { runtime });
      try {
        const response = await fetch(`${accountservice.url}/accounts/10001`);
        assert.equal(response.status, 200);
        const body = (await response.json()) as { name: string; imageData: unknown };
        assert.equal(body.name, 'Person_1');
        assert.deepEqual(body.imageData, { url: 'https://shop.example/placeholder.jpg', servedBy: 'fallback' });
        assert.deepEqual(readdirSync(dataDir).sort(), ['data.mdb', 'lock.mdb']);

        const placeholder = await fetch(`${accountservice.url}/placeholder.jpg`);
        assert.equal(placeholder.headers.get('content-type'), 'image/jpeg');
        const image = jpeg.decode(new Uint8Array(await placeholder.arrayBuffer()));
        assert.ok(image.width >= 64 && image.height >= 64, `${image.width}×${image.height}`);
      } finally {
        assert.equal(await accountservice.stop(), 0);
      }
    });

    it('stops with one line naming DATA_DIR when it is not a directory', async () => {
      const file = join(root, 'not-a-directory');
      writeFileSync(file, '');
      const lines: string[] = [];
      await assert.rejects(
        startService('accountservice', await env(file), { runtime, onLog: (_name, line) => lines.push(line) }),
        /exited with code 1 before listening/,
      );
      assert.equal(lines.length, 1, lines.join('\n'));
      const line = JSON.parse(lines[0]!) as Record<string, string>;
      assert.deepEqual([line.level, line.msg, line.variable], ['error', 'bad configuration', 'DATA_DIR']);
      assert.ok(line.error!.includes(JSON.stringify(file)), line.error);
    });
  });
}
