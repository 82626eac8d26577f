import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readJpegFrame } from './jpeg-frame.ts';
import { ConfigError, envReader } from '../../lib/config.ts';
import { admitJpeg, decodeMemoryBytes, ImageTooLargeError, MAX_DECODE_BYTES, MAX_PIXELS, MAX_UPLOAD_BYTES, maxPixelsFromEnv, NotAnImageError } from './limits.ts';
import { bombJpeg, makeJpeg, padJpeg } from './test-jpegs.ts';

describe('image limits', () => {
  it('reads the frame header of a real JPEG without decoding it', () => {
    const frame = readJpegFrame(makeJpeg(123, 45));
    assert.equal(frame.width, 123);
    assert.equal(frame.height, 45);
    assert.equal(frame.precision, 8);
    assert.equal(frame.coding, 'baseline');
    assert.equal(frame.components.length, 3);
  });

  it('admits 8 MiB of upload and one byte less, and refuses one byte more, naming the upload limit', () => {
    const small = makeJpeg(64, 64);
    for (const size of [MAX_UPLOAD_BYTES - 1, MAX_UPLOAD_BYTES]) {
      const image = padJpeg(small, size);
      assert.equal(image.byteLength, size);
      assert.equal(admitJpeg(image).width, 64, `${size} bytes`);
    }
    assert.throws(() => admitJpeg(padJpeg(small, MAX_UPLOAD_BYTES + 1)), (error: Error) =>
      error instanceof ImageTooLargeError && error.message === 'image larger than 8388608 bytes (the upload limit, 8 MiB)');
  });

  it('admits 25 megapixels and just under, and refuses just over, naming the pixel limit', () => {
    assert.equal(MAX_PIXELS, 25_000_000);
    for (const [width, height] of [[5000, 5000], [4999, 5001]] as const) {
      assert.equal(admitJpeg(makeJpeg(width, height)).width, width, `${width}×${height}`);
    }
    assert.throws(() => admitJpeg(makeJpeg(5000, 5001)), (error: Error) =>
      error instanceof ImageTooLargeError &&
      error.message === 'image of 5000×5001 pixels (25005000) is over the limit of 25000000 pixels (25 megapixels)');
  });

  it('takes a lower pixel limit from IMAGE_MAX_PIXELS, and names the limit in force when refusing', () => {
    const maxPixels = (value?: string) => maxPixelsFromEnv(envReader({ IMAGE_MAX_PIXELS: value }));
    assert.equal(maxPixels(undefined), MAX_PIXELS);
    assert.equal(maxPixels('12500000'), 12_500_000);
    for (const bad of ['0', '25000001', '1.5', 'many']) {
      assert.throws(() => maxPixels(bad), (error: Error) => error instanceof ConfigError && /^IMAGE_MAX_PIXELS: expected an integer from 1 to 25000000/.test(error.message), bad);
    }
    assert.equal(admitJpeg(makeJpeg(4000, 3125), 12_500_000).height, 3125);
    assert.throws(() => admitJpeg(makeJpeg(4000, 3126), 12_500_000), (error: Error) =>
      error instanceof ImageTooLargeError &&
      error.message === 'image of 4000×3126 pixels (12504000) is over the limit of 12500000 pixels (12.5 megapixels)');
    assert.throws(() => admitJpeg(makeJpeg(1000, 1001), 1_000_000), /over the limit of 1000000 pixels \(1 megapixel\)$/);
  });

  it('refuses at once a frame declaring more pixels than its bytes can encode', () => {
    for (const [width, height] of [[5000, 5000], [4000, 4000], [1000, 1000]] as const) {
      const bomb = bombJpeg(width, height);
      const started = performance.now();
      assert.throws(() => admitJpeg(bomb), (error: Error) =>
        error instanceof NotAnImageError && new RegExp(`^JPEG declares ${width}×${height} pixels, more than its \\d+ bytes of image data can encode$`).test(error.message));
      assert.ok(performance.now() - started < 50, 'before any decoding');
      assert.ok(bomb.byteLength < 1000, `a bomb of ${bomb.byteLength} bytes`);
    }
  });

  it('refuses what the decoder does not support, naming it', () => {
    const image = makeJpeg(16, 16);
    const withMarker = (marker: number) => {
      const copy = image.slice();
      const at = copy.findIndex((b, i) => b === 0xff && copy[i + 1] === 0xc0);
      copy[at + 1] = marker;
      return copy;
    };
    assert.throws(() => admitJpeg(withMarker(0xc9)), /^NotAnImageError: unsupported JPEG: arithmetic coding$/);
    assert.throws(() => admitJpeg(withMarker(0xc3)), /^NotAnImageError: unsupported JPEG: lossless coding$/);
    assert.throws(() => admitJpeg(new TextEncoder().encode('hello')), /^NotAnImageError: body is not a JPEG image$/);
    assert.throws(() => admitJpeg(image.subarray(0, 20)), /^NotAnImageError: JPEG/);
  });

  it('gives the decoder enough memory for every image the limits admit', () => {
    const sampling = (h: number, v: number) => [{ h, v }, { h, v }, { h, v }];
    // The pixel limit's largest shapes, with the sampling factors that pad them most.
    const extremes = [
      { width: 5000, height: 5000, components: sampling(1, 1) },
      { width: 4993, height: 5007, components: sampling(4, 4) },
      { width: 65_535, height: 381, components: sampling(4, 4) },
      { width: 381, height: 65_535, components: sampling(4, 4) },
      { width: 65_535, height: 353, components: sampling(4, 4) },
      { width: 4097, height: 6101, components: [{ h: 4, v: 4 }, { h: 1, v: 1 }, { h: 1, v: 1 }] },
    ];
    for (const frame of extremes) {
      assert.ok(frame.width * frame.height <= MAX_PIXELS);
      const need = decodeMemoryBytes(frame);
      assert.ok(need <= MAX_DECODE_BYTES, `${frame.width}×${frame.height} needs ${need} > ${MAX_DECODE_BYTES}`);
    }
  });
});
