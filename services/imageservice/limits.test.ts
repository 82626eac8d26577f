import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import mozjpegEncode, { init as initMozjpegEncoder } from '@jsquash/jpeg/encode.js';
import jpeg from 'jpeg-js';
import { countScans, readJpegFrame } from './jpeg-frame.ts';
import { ConfigError, envReader } from '../../lib/config.ts';
import { admitJpeg, decodeMemoryBytes, ImageTooLargeError, MAX_DECODE_BYTES, MAX_PIXELS, MAX_SCANS, MAX_UPLOAD_BYTES, maxPixelsFromEnv, NotAnImageError } from './limits.ts';
import { bombJpeg, bytesOf, FLAT_JPEG_TABLE_BYTES, flatJpeg, frameHeader, makeJpeg, padJpeg, scanBombJpeg, scanHeader, SOI, type FrameSpec } from './test-jpegs.ts';

const colour420 = [{ h: 2, v: 2 }, { h: 1, v: 1 }, { h: 1, v: 1 }];

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
      error instanceof ImageTooLargeError && error.name === 'ImageTooLargeError' &&
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

  it('admits baseline, extended and progressive JPEGs of 8 bits, grey or colour', () => {
    for (const [marker, coding] of [[0xc0, 'baseline'], [0xc1, 'extended'], [0xc2, 'progressive']] as const) {
      for (const components of [[{ h: 1, v: 1 }], colour420]) {
        const frame = admitJpeg(flatJpeg({ width: 40, height: 24, components }, marker));
        assert.equal(frame.coding, coding);
        assert.equal(frame.components.length, components.length);
      }
    }
  });

  it('refuses hierarchical coding, other precisions than 8 bits, and other counts of components than 1 and 3, naming them', () => {
    assert.throws(() => admitJpeg(flatJpeg({ width: 16, height: 16 }, 0xc5)), /^NotAnImageError: unsupported JPEG: hierarchical coding$/);
    assert.throws(() => admitJpeg(flatJpeg({ width: 16, height: 16, precision: 12 })), /^NotAnImageError: unsupported JPEG: 12 bits per sample$/);
    for (const count of [2, 4]) {
      const components = new Array(count).fill({ h: 1, v: 1 });
      assert.throws(() => admitJpeg(flatJpeg({ width: 16, height: 16, components })),
        new RegExp(`^NotAnImageError: unsupported JPEG: ${count} colour components \\(1 or 3 are\\)$`));
    }
  });

  it('refuses a frame header of no width or no height', () => {
    for (const [width, height] of [[0, 16], [16, 0]] as const) {
      assert.throws(() => admitJpeg(flatJpeg({ width, height })), /^NotAnImageError: unsupported JPEG: no size in its frame header$/, `${width}×${height}`);
    }
  });

  it('admits one byte of image data per eight 8×8 blocks of its components, and refuses a byte less', () => {
    // Image data: what follows the scan header, however little of it is a real scan.
    const withData = (frame: FrameSpec, bytes: number) =>
      bytesOf(SOI, frameHeader(frame), scanHeader(frame.components?.length ?? 1), new Uint8Array(bytes));
    const cases = [
      // Grey 64×64: 8×8 blocks.
      { frame: { width: 64, height: 64 }, blocks: 64 },
      // 4:2:0 at 40×40: 5×5 blocks of luma and 3×3 of each chroma; the padding to whole MCUs
      // (6×6 and 3×3) is not data the image must carry.
      { frame: { width: 40, height: 40, components: colour420 }, blocks: 25 + 9 + 9 },
    ];
    for (const { frame, blocks } of cases) {
      const enough = Math.ceil(blocks / 8);
      assert.equal(admitJpeg(withData(frame, enough)).width, frame.width);
      assert.throws(() => admitJpeg(withData(frame, enough - 1)), (error: Error) =>
        error instanceof NotAnImageError &&
        error.message === `JPEG declares ${frame.width}×${frame.height} pixels, more than its ${enough - 1} bytes of image data can encode`);
    }
  });

  it(`admits ${MAX_SCANS} scans and refuses one more, naming the limit`, () => {
    assert.equal(admitJpeg(scanBombJpeg(MAX_SCANS)).width, 16);
    assert.throws(() => admitJpeg(scanBombJpeg(MAX_SCANS + 1)), (error: Error) =>
      error instanceof NotAnImageError && error.message === `JPEG of more than ${MAX_SCANS} scans, the limit`);
  });

  it('admits the progressive JPEGs an encoder writes', async () => {
    const { width, height, data } = jpeg.decode(makeJpeg(64, 48, 'noise'), { useTArray: true, formatAsRGBA: true });
    const pixels = { width, height, data: new Uint8ClampedArray(data.buffer as ArrayBuffer), colorSpace: 'srgb' as const };
    await initMozjpegEncoder(new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm'))));
    const progressive = new Uint8Array(await mozjpegEncode(pixels, { progressive: true }));
    assert.equal(admitJpeg(progressive).coding, 'progressive');
    const scans = countScans(progressive, readJpegFrame(progressive).scanDataOffset);
    assert.ok(scans > 1 && scans < MAX_SCANS, `${scans} scans`);
  });

  it('counts the decoding memory to the byte as jpeg-js does, at odd sizes and with any sampling factors', () => {
    const frames: FrameSpec[] = [
      { width: 13, height: 21 },
      { width: 17, height: 33, components: [{ h: 1, v: 1 }, { h: 1, v: 1 }, { h: 1, v: 1 }] },
      { width: 37, height: 19, components: colour420 },
      { width: 50, height: 9, components: [{ h: 1, v: 3 }, { h: 2, v: 1 }, { h: 4, v: 1 }] },
    ];
    const decode = (image: Uint8Array, bytes: number) =>
      jpeg.decode(image, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxMemoryUsageInMB: bytes / 2 ** 20 });
    for (const spec of frames) {
      const image = flatJpeg(spec);
      const need = decodeMemoryBytes(readJpegFrame(image)) + FLAT_JPEG_TABLE_BYTES;
      const decoded = decode(image, need);
      assert.deepEqual([...decoded.data.subarray(0, 4)], [128, 128, 128, 255], 'flat grey');
      assert.equal(decoded.width, spec.width);
      assert.throws(() => decode(image, need - 1), /maxMemoryUsageInMB limit exceeded/, `${spec.width}×${spec.height}`);
    }
    // 5000×5000 colour: 7 bytes per pixel, and per component 625×625 blocks of 256 bytes and 5000×5000 samples.
    assert.equal(decodeMemoryBytes({ width: 5000, height: 5000, components: colour420.map(() => ({ h: 1, v: 1 })) }), 550_000_000);
    assert.equal(MAX_DECODE_BYTES, 577_500_000, 'that and 5 %');
  });
});
