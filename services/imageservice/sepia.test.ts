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

  // What reaches it has passed limits.ts (which tells a non-JPEG, a bomb and an image too large
  // apart, limits.test.ts); anything the decoder still cannot read is refused, never thrown raw.
  it('refuses what it cannot decode as NotAnImageError', () => {
    const broken = { name: 'NotAnImageError', message: 'JPEG could not be decoded' };
    const padded = (...start: number[]) => Buffer.concat([Buffer.from(start), Buffer.alloc(500, 7)]);
    for (const bytes of [
      new Uint8Array(),
      new TextEncoder().encode('hello'),
      new Uint8Array([0xff, 0xd8, 0xff]),
      sample.subarray(0, 200),
      padded(0xff, 0xd8, 0xff),
    ]) {
      assert.throws(() => sepiaJpeg(bytes), broken);
    }
  });

  it("names the decoder's own limits when an image is over them", () => {
    const small = Buffer.from(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 128) }, 90).data);
    // The frame header (SOF0, FF C0) gives height and width after its length and precision: claim
    // 6000 × 6000, 36 megapixels, over the pixel limit the decoder is given.
    const sof = small.indexOf(Buffer.from([0xff, 0xc0]));
    small.writeUInt16BE(6000, sof + 5);
    small.writeUInt16BE(6000, sof + 7);
    assert.throws(() => sepiaJpeg(small), { name: 'NotAnImageError', message: /^JPEG over the decoder's limits \(maxResolutionInMP/ });
  });
});
