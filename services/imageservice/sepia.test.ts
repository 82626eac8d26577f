import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { NotAnImageError } from './limits.ts';
import { sepiaJpeg, toneSepia } from './sepia.ts';

const sample = readFileSync(new URL('./samples/ocean.jpg', import.meta.url));

describe('sepia', () => {
  it('tones pixels with the sepia matrix, clamped', () => {
    const pixels = new Uint8Array([255, 255, 255, 255, 0, 0, 255, 255]);
    toneSepia(pixels);
    assert.deepEqual([...pixels], [255, 255, 238, 255, 48, 42, 33, 255]);
  });

  it('turns a JPEG into a sepia JPEG of the same size', () => {
    const out = jpeg.decode(sepiaJpeg(sample), { useTArray: true });
    const original = jpeg.decode(sample, { useTArray: true });
    assert.equal(out.width, original.width);
    assert.equal(out.height, original.height);
    // Sepia: red ≥ green ≥ blue, give or take JPEG's rounding.
    for (let i = 0; i < out.data.length; i += 4 * 97) {
      assert.ok(out.data[i]! + 6 >= out.data[i + 1]! && out.data[i + 1]! + 6 >= out.data[i + 2]!, `pixel ${i / 4}`);
    }
  });

  it('refuses what is not a JPEG, or a broken one, as NotAnImageError', () => {
    for (const bytes of [new Uint8Array(), new TextEncoder().encode('hello'), sample.subarray(0, 200), Buffer.concat([sample.subarray(0, 3), Buffer.alloc(500, 7)])]) {
      assert.throws(() => sepiaJpeg(bytes), NotAnImageError);
    }
  });
});
