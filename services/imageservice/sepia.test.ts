import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { readJpegFrame } from './jpeg-frame.ts';
import { NotAnImageError } from './limits.ts';
import { decodeJpeg, MOZJPEG_MAX_PIXELS, sepiaJpeg, toneSepia } from './sepia.ts';
import { makeJpeg, withBogusHuffmanTable } from './test-jpegs.ts';

const sample = readFileSync(new URL('./samples/ocean.jpg', import.meta.url));

describe('sepia', () => {
  it('tones pixels with the sepia matrix, clamped', () => {
    const pixels = new Uint8Array([255, 255, 255, 255, 0, 0, 255, 255]);
    toneSepia(pixels);
    assert.deepEqual([...pixels], [255, 255, 238, 255, 48, 42, 33, 255]);
  });

  it('turns a JPEG into a sepia JPEG of the same size', async () => {
    const out = jpeg.decode(await sepiaJpeg(sample), { useTArray: true });
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
  it('refuses what it cannot decode as NotAnImageError', async () => {
    const broken = { name: 'NotAnImageError', message: 'JPEG could not be decoded' };
    const padded = (...start: number[]) => Buffer.concat([Buffer.from(start), Buffer.alloc(500, 7)]);
    for (const bytes of [
      new Uint8Array(),
      new TextEncoder().encode('hello'),
      new Uint8Array([0xff, 0xd8, 0xff]),
      sample.subarray(0, 200),
      // Cut in its data, and short of its end marker only: libjpeg reads both with a warning.
      sample.subarray(0, sample.length >> 1),
      sample.subarray(0, sample.length - 2),
      padded(0xff, 0xd8, 0xff),
    ]) {
      await assert.rejects(sepiaJpeg(bytes), broken);
    }
  });

  // mozjpeg is three times as fast and allocates nothing per image on the JavaScript heap;
  // jpeg-js, whose memory the garbage collector gives back, takes larger images.
  it(`decodes up to ${MOZJPEG_MAX_PIXELS} pixels with mozjpeg, larger images with jpeg-js, alike`, async () => {
    for (const [width, height, decoder] of [[320, 240, 'mozjpeg'], [1000, 1000, 'mozjpeg'], [1000, 1001, 'jpeg-js']] as const) {
      const image = makeJpeg(width, height);
      const decoded = await decodeJpeg(image);
      assert.deepEqual([decoded.decoder, decoded.width, decoded.height, decoded.data.byteLength], [decoder, width, height, width * height * 4]);
      // The same grey as jpeg-js reads, give or take the decoders' rounding.
      const reference = jpeg.decode(image, { useTArray: true, formatAsRGBA: true }).data;
      for (let i = 0; i < reference.length; i += 4 * 9973) assert.ok(Math.abs(decoded.data[i]! - reference[i]!) <= 2, `${width}×${height} pixel ${i / 4}`);
    }
    // What libjpeg says about one image, decoded at the same time as another, is that image's alone.
    const [truncated, whole] = await Promise.allSettled([decodeJpeg(sample.subarray(0, sample.length - 2)), decodeJpeg(sample)]);
    assert.equal(truncated.status, 'rejected');
    assert.equal(whole.status === 'fulfilled' && whole.value.decoder, 'mozjpeg');
  });

  it("decodes with a new mozjpeg instance after each of libjpeg's errors", async () => {
    // libjpeg's error ends its program halfway; an instance used again fails for good after some 70.
    const bogusTable = withBogusHuffmanTable(sample);
    for (let i = 0; i < 100; i++) await assert.rejects(decodeJpeg(bogusTable), { message: 'JPEG could not be decoded' });
    assert.equal((await decodeJpeg(sample)).decoder, 'mozjpeg');
  });

  // jpeg-js does not turn an image by its Exif orientation, nor does the toned JPEG carry one.
  it('decodes an image as its frame lays it out, whatever its Exif orientation says', async () => {
    const image = makeJpeg(320, 240);
    const orientation6 = Buffer.from('ffe10022457869660000' + '4d4d002a00000008' + '0001' + '011200030000000100060000' + '00000000', 'hex');
    const turned = Buffer.concat([image.subarray(0, 2), orientation6, image.subarray(2)]);
    const decoded = await decodeJpeg(turned);
    assert.deepEqual([decoded.decoder, decoded.width, decoded.height], ['mozjpeg', 320, 240]);
  });

  it('leaves to jpeg-js what libjpeg has to say anything about, and says nothing on standard error', () => {
    // Truncated (libjpeg warns and fills in grey), and a broken Huffman table (libjpeg ends its program).
    const script = `
      import { readFileSync } from 'node:fs';
      import { decodeJpeg } from './sepia.ts';
      import { withBogusHuffmanTable } from './test-jpegs.ts';
      const sample = readFileSync(new URL('./samples/ocean.jpg', import.meta.url));
      const answers = [];
      for (const bytes of [sample.subarray(0, sample.length - 2), withBogusHuffmanTable(sample), sample]) {
        answers.push(await decodeJpeg(bytes).then((image) => image.decoder, (error) => error.message));
      }
      console.log(JSON.stringify(answers));
    `;
    const args = 'Deno' in globalThis ? ['eval', script] : ['--import', 'tsx', '--input-type=module', '-e', script];
    const run = spawnSync(process.execPath, args, { cwd: import.meta.dirname, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(run.stderr, '');
    // After libjpeg's error, the next image is decoded by a new instance.
    assert.deepEqual(JSON.parse(run.stdout), ['JPEG could not be decoded', 'JPEG could not be decoded', 'mozjpeg']);
  });

  it("names the decoder's own limits when an image is over them", async () => {
    const small = Buffer.from(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 128) }, 90).data);
    // The frame header (SOF0, FF C0) gives height and width after its length and precision: claim
    // 6000 × 6000, 36 megapixels, over the pixel limit the decoder is given.
    const sof = small.indexOf(Buffer.from([0xff, 0xc0]));
    small.writeUInt16BE(6000, sof + 5);
    small.writeUInt16BE(6000, sof + 7);
    await assert.rejects(sepiaJpeg(small), { name: 'NotAnImageError', message: /^JPEG over the decoder's limits \(maxResolutionInMP/ });
  });

  // mozjpeg (4:2:0 chroma: luma sampled 2×2) while the image fits its initial memory, jpeg-js
  // (every component 1×1) above; either way a baseline JPEG of the image's size, in a buffer of its own.
  it(`encodes up to ${MOZJPEG_MAX_PIXELS} pixels with mozjpeg, larger images with jpeg-js`, async () => {
    for (const [width, height, sampling] of [[320, 240, 2], [1000, 1000, 2], [1000, 1001, 1]] as const) {
      const out = await sepiaJpeg(makeJpeg(width, height));
      const frame = readJpegFrame(out);
      const label = `${width}×${height}`;
      assert.deepEqual([frame.coding, frame.width, frame.height, frame.components.length], ['baseline', width, height, 3], label);
      assert.deepEqual([frame.components[0]!.h, frame.components[0]!.v], [sampling, sampling], label);
      assert.deepEqual([out.byteOffset, out.buffer.byteLength], [0, out.byteLength], `${label}: its own buffer`);
      assert.deepEqual([jpeg.decode(out).width, jpeg.decode(out).height], [width, height], label);
    }
  });

  it('encodes at quality 85 unless told otherwise', async () => {
    const sizes = await Promise.all([undefined, 85, 50, 95].map(async (quality) => (await sepiaJpeg(sample, quality)).byteLength));
    assert.equal(sizes[0], sizes[1]);
    assert.ok(sizes[2]! < sizes[1]! && sizes[1]! < sizes[3]!, `${sizes}`);
  });

  it('encodes image after image with the same instance, the same answer each time', async () => {
    const image = makeJpeg(64, 48, 'noise');
    const first = await sepiaJpeg(image);
    const toned = await Promise.all([1, 2, 3].map(() => sepiaJpeg(image)));
    for (const again of toned) assert.deepEqual(again, first);
  });
});
