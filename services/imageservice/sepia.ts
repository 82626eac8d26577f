/**
 * Sepia toning of JPEG images: decoded by jpeg-js (pure JavaScript, with limits of its own),
 * encoded by mozjpeg compiled to WebAssembly (@jsquash/jpeg) up to MOZJPEG_MAX_PIXELS and by
 * jpeg-js above. All of it runs unchanged on Node and on Deno, with no native addon to build
 * or load. It runs in the toning workers (toning.ts), on images already checked against the
 * limits (limits.ts); the decoder's own limits are set from the same numbers, as a second line only.
 *
 * Why two encoders. jpeg-js's encoder builds its Huffman and colour tables again for every
 * image (18 of the 30 ms a 320×240 image takes), and that garbage, promoted to the worker's
 * old generation, was the service's peak memory while toning small images one after another.
 * @jsquash/jpeg, chosen over a codec of our own, is a maintained packaging of Squoosh's mozjpeg
 * build (about 200,000 downloads a month; 1.6.0 of October 2025) whose instance keeps its
 * tables: a 320×240 image in about 11 ms, and a smaller file at the same quality setting. But
 * its WebAssembly memory grows with the image and never shrinks (a 12 MP image leaves it at
 * 228 MiB, and raises the toning peak by some 180 MiB), and its trellis quantisation, which
 * cannot be turned off through its options, makes it no faster than jpeg-js from about 1 MP on.
 * So it encodes what fits its initial memory (16 MiB; 1 MP of noise, the worst case, grew it
 * to 19.4 MiB), and jpeg-js, whose memory the garbage collector gives back, the rare larger
 * image, where the tables are a small part of the work.
 *
 * jpeg-js still decodes: its limits (maxResolutionInMP, maxMemoryUsageInMB) and its errors are
 * what a refusal is made of, where mozjpeg's decoder has no limits and ends its instance on a
 * broken file.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mozjpegEncode, { init as initMozjpeg } from '@jsquash/jpeg/encode.js';
import jpeg from 'jpeg-js';
import { MAX_DECODE_BYTES, MAX_PIXELS, NotAnImageError } from './limits.ts';

const MiB = 1024 * 1024;

/** The largest image (width × height) encoded by mozjpeg; larger ones are encoded by jpeg-js. */
export const MOZJPEG_MAX_PIXELS = 1_000_000;

let mozjpegReady = false;

/** Decodes a JPEG, tones it sepia and encodes it again. Rejects with NotAnImageError when it cannot be decoded. */
export async function sepiaJpeg(input: Uint8Array, quality = 85): Promise<Uint8Array<ArrayBuffer>> {
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(Buffer.from(input.buffer, input.byteOffset, input.byteLength), {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_PIXELS / 1e6,
      // The tables the decoder also counts take a few KiB: one MiB over the limit is ample.
      maxMemoryUsageInMB: Math.ceil(MAX_DECODE_BYTES / MiB) + 1,
    });
  } catch (error) {
    // The decoder's own messages describe its internals, not the upload; its limits are worth naming.
    const limit = error instanceof Error && /maxResolutionInMP|maxMemoryUsageInMB/.test(error.message);
    throw new NotAnImageError(limit ? `JPEG over the decoder's limits (${error.message})` : 'JPEG could not be decoded');
  }
  toneSepia(image.data);
  return encodeJpeg(image, quality);
}

/**
 * A baseline (sequential) JPEG of RGBA pixels, as jpeg-js writes them (mozjpeg's progressive
 * default takes three times as long for a 4 % smaller file), its colour sampled 4:2:0 as
 * libjpeg does by default rather than as mozjpeg guesses. Its instance is made once per thread,
 * from the WebAssembly the package ships (read from node_modules, as the image's --allow-read=/app allows).
 */
async function encodeJpeg(image: { width: number; height: number; data: Uint8Array }, quality: number): Promise<Uint8Array<ArrayBuffer>> {
  const { width, height, data } = image;
  if (width * height > MOZJPEG_MAX_PIXELS) return jpeg.encode(image, quality).data as Uint8Array<ArrayBuffer>;
  if (!mozjpegReady) {
    const wasm = readFileSync(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm'));
    void initMozjpeg(new WebAssembly.Module(wasm));
    mozjpegReady = true;
  }
  // The same pixels, in the type ImageData has (jpeg-js decodes into an ArrayBuffer, never a shared one).
  const pixels = new Uint8ClampedArray(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const options = { quality, baseline: true, auto_subsample: false, chroma_subsample: 2 };
  return new Uint8Array(await mozjpegEncode({ width, height, data: pixels, colorSpace: 'srgb' }, options));
}

/** The classic sepia matrix, in place over RGBA pixels. */
export function toneSepia(rgba: Uint8Array): void {
  for (let i = 0; i < rgba.length; i += 4) {
    const r = rgba[i]!;
    const g = rgba[i + 1]!;
    const b = rgba[i + 2]!;
    rgba[i] = Math.min(255, 0.393 * r + 0.769 * g + 0.189 * b);
    rgba[i + 1] = Math.min(255, 0.349 * r + 0.686 * g + 0.168 * b);
    rgba[i + 2] = Math.min(255, 0.272 * r + 0.534 * g + 0.131 * b);
  }
}
