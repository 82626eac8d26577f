/**
 * The worker's task function, called here on the test's own thread: what a worker thread runs
 * per task (toning.test.ts tones through the pool), with the answer read the way the pool reads
 * it off Piscina.move()'s wrapper.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Piscina } from 'piscina';
import { sepiaJpeg } from './sepia.ts';
import toneInWorker, { movableBuffer } from './sepia-worker.ts';
import { makeJpeg } from './test-jpegs.ts';

/** The ArrayBuffer a task's answer moves to the main thread; fails unless it is marked to be moved, not copied. */
function moved(answer: unknown): ArrayBuffer {
  assert.ok(typeof answer === 'object' && answer !== null && Piscina.transferableSymbol in answer, 'marked to be moved');
  const value = (answer as Record<symbol, unknown>)[Piscina.valueSymbol];
  assert.ok(value instanceof ArrayBuffer, 'an ArrayBuffer');
  assert.equal((answer as Record<symbol, unknown>)[Piscina.transferableSymbol], value, 'moves the ArrayBuffer it answers');
  return value;
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

  it('answers an image that cannot be decoded with what is wrong with it, as a string', async () => {
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    assert.equal(await toneInWorker(input(broken)), 'JPEG could not be decoded');
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
