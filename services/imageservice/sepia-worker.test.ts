/**
 * The worker's task function, called here on the test's own thread: what a worker thread runs
 * per task (toning.test.ts tones through the pool), with the answer read the way the pool reads
 * it off Piscina.move()'s wrapper.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
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

/**
 * Sets Node's shared pool of small Buffers so that the next small Buffer lies `at` bytes (a
 * multiple of 8, under 4 KiB) into a fresh pool: a pool is used up, then `at` bytes of the next.
 */
function nextSmallBufferAt(at: number): void {
  const probe = Buffer.allocUnsafe(1);
  // Every Buffer in the pool starts at a multiple of 8.
  let left = Buffer.poolSize - probe.byteOffset - 8;
  while (left > 0) {
    const size = Math.min(left, Buffer.poolSize / 2 - 1);
    Buffer.allocUnsafe(size);
    left -= Math.ceil(size / 8) * 8;
  }
  if (at > 0) Buffer.allocUnsafe(at);
}

const input = (image: Uint8Array) => new Uint8Array(image).buffer;

describe('toning worker task', () => {
  it('answers the toned JPEG of a large image, moved', () => {
    const image = makeJpeg(256, 256, 'noise');
    const expected = sepiaJpeg(image);
    assert.ok(expected.byteLength > Buffer.poolSize, 'too large for the shared pool');
    assert.deepEqual(new Uint8Array(moved(toneInWorker(input(image)))), new Uint8Array(expected));
  });

  it('answers a small JPEG with its own bytes only, not the shared pool of small Buffers it was encoded in', () => {
    const image = makeJpeg(16, 16, 'noise');
    const expected = new Uint8Array(sepiaJpeg(image));
    for (const at of [1024, 0]) {
      nextSmallBufferAt(at);
      const toned = sepiaJpeg(image);
      assert.deepEqual([toned.byteOffset, toned.buffer.byteLength], [at, Buffer.poolSize], `encoded ${at} bytes into the pool`);
      const task = input(image);
      nextSmallBufferAt(at);
      assert.deepEqual(new Uint8Array(moved(toneInWorker(task))), expected, `${at} bytes into the pool`);
    }
  });

  it('answers an image that cannot be decoded with what is wrong with it, as a string', () => {
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    assert.equal(toneInWorker(input(broken)), 'JPEG could not be decoded');
  });

  it('throws what is not the image\'s fault, for the pool to reject the task with', () => {
    // An input already moved elsewhere: there are no bytes to read.
    const gone = input(makeJpeg(16, 16));
    structuredClone(gone, { transfer: [gone] });
    assert.throws(() => toneInWorker(gone), TypeError);
  });
});

describe('the buffer a toned JPEG is moved in', () => {
  it('is the JPEG\'s own ArrayBuffer when the JPEG fills it: no copy', () => {
    const toned = sepiaJpeg(makeJpeg(256, 256, 'noise'));
    assert.equal(movableBuffer(toned), toned.buffer);
  });

  it('is a copy of just the JPEG when it shares its ArrayBuffer, wherever in it the JPEG lies', () => {
    const image = makeJpeg(16, 16, 'noise');
    for (const at of [1024, 0]) {
      nextSmallBufferAt(at);
      const toned = sepiaJpeg(image);
      assert.deepEqual([toned.byteOffset, toned.buffer.byteLength], [at, Buffer.poolSize], `encoded ${at} bytes into the pool`);
      const buffer = movableBuffer(toned);
      assert.notEqual(buffer, toned.buffer, `${at} bytes into the pool`);
      assert.deepEqual(new Uint8Array(buffer), new Uint8Array(toned), `${at} bytes into the pool`);
    }
  });
});
