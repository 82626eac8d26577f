/**
 * The worker's task function, called here on the test's own thread: what a worker thread runs
 * per task (toning.test.ts tones through the pool), with the answer read the way the pool reads
 * it off Piscina.move()'s wrapper.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { sepiaJpeg } from './sepia.ts';
import toneInWorker, { movableBuffer, type ToningAnswer } from './sepia-worker.ts';
import { makeJpeg } from './test-jpegs.ts';

/**
 * The toned JPEG a task's answer moves to the main thread; fails unless the answer is marked to be
 * moved with its JPEG, not copied, and says how long the worker took.
 */
function moved(answer: unknown): ArrayBuffer {
  assert.ok(typeof answer === 'object' && answer !== null && Piscina.transferableSymbol in answer, 'marked to be moved');
  const value = (answer as Record<symbol, unknown>)[Piscina.valueSymbol] as ToningAnswer;
  assert.ok('jpeg' in value && value.jpeg instanceof ArrayBuffer, 'a JPEG in an ArrayBuffer');
  assert.ok(value.ms > 0, `took ${value.ms} ms`);
  assert.equal((answer as Record<symbol, unknown>)[Piscina.transferableSymbol], value.jpeg, 'moves the ArrayBuffer it answers');
  return value.jpeg;
}

const input = (image: Uint8Array) => new Uint8Array(image).buffer;

describe('toning worker task', () => {
  it('answers the toned JPEG of a large image, moved', async () => {
    const image = makeJpeg(256, 256, 'noise');
    const expected = await sepiaJpeg(image);
    assert.deepEqual(new Uint8Array(moved(await toneInWorker(input(image)))), expected);
  });

  it('answers a small JPEG with its own bytes only, image after image', async () => {
    for (const size of [16, 8, 16]) {
      const image = makeJpeg(size, size, 'noise');
      const expected = await sepiaJpeg(image);
      const answer = moved(await toneInWorker(input(image)));
      assert.equal(answer.byteLength, expected.byteLength, `${size}×${size}`);
      assert.deepEqual(new Uint8Array(answer), expected, `${size}×${size}`);
    }
  });

  it('answers an image that cannot be decoded with what is wrong with it', async () => {
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    const answer = await toneInWorker(input(broken));
    assert.ok('problem' in answer && answer.problem === 'JPEG could not be decoded' && answer.ms > 0, JSON.stringify(answer));
  });

  // Freed at once, not when V8 next collects (sepia.ts's release()); Node 20 cannot, Deno can.
  const detaching = 'transfer' in ArrayBuffer.prototype;
  it("gives the input's memory back once done with it", { skip: !detaching && 'no ArrayBuffer transfer on this runtime: run on Deno below' }, async () => {
    for (const image of [makeJpeg(64, 64, 'noise'), new TextEncoder().encode('hello')]) {
      const buffer = input(image);
      await toneInWorker(buffer);
      assert.equal(buffer.byteLength, 0, 'detached');
    }
  });

  it('passes the same cases, and those of sepia.test.ts, on Deno', { skip: 'Deno' in globalThis }, () => {
    const deno = fileURLToPath(new URL('../../node_modules/.bin/deno', import.meta.url));
    const files = ['./sepia.test.ts', './sepia-worker.test.ts'].map((file) => fileURLToPath(new URL(file, import.meta.url)));
    const run = spawnSync(deno, ['test', '-A', '--no-check', ...files], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /gives the input's memory back once done with it \.\.\. ok/);
  });

  it('throws what is not the image\'s fault, for the pool to reject the task with', async () => {
    // An input already moved elsewhere: there are no bytes to read.
    const gone = input(makeJpeg(16, 16));
    structuredClone(gone, { transfer: [gone] });
    await assert.rejects(toneInWorker(gone), TypeError);
  });
});

describe('the buffer a toned JPEG is moved in', () => {
  it('is the JPEG\'s own ArrayBuffer when the JPEG fills it: no copy', async () => {
    const toned = await sepiaJpeg(makeJpeg(256, 256, 'noise'));
    assert.equal(movableBuffer(toned), toned.buffer);
  });

  it('is a copy of just the JPEG when it shares its ArrayBuffer, wherever in it the JPEG lies', async () => {
    const toned = await sepiaJpeg(makeJpeg(16, 16, 'noise'));
    for (const at of [1024, 0]) {
      // As in Node's shared pool of small Buffers: 8 KiB, the JPEG somewhere in it.
      const pool = new Uint8Array(8192);
      pool.set(toned, at);
      const shared = pool.subarray(at, at + toned.byteLength);
      const buffer = movableBuffer(shared);
      assert.notEqual(buffer, pool.buffer, `${at} bytes into the pool`);
      assert.equal(buffer.byteLength, toned.byteLength, `${at} bytes into the pool`);
      assert.deepEqual(new Uint8Array(buffer), toned, `${at} bytes into the pool`);
    }
  });
});
