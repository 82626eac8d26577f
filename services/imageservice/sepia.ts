/**
 * Sepia toning of JPEG images, with mozjpeg compiled to WebAssembly (@jsquash/jpeg) for
 * images up to MOZJPEG_MAX_PIXELS and jpeg-js (pure JavaScript, with limits of its own)
 * above. All of it runs unchanged on Node and on Deno, with no native addon to build or load.
 * It runs in the toning workers (toning.ts), on images already checked against the limits
 * (limits.ts); jpeg-js's own limits are set from the same numbers, as a second line only.
 *
 * Why mozjpeg for small images. jpeg-js builds its encoder's Huffman and colour tables
 * again for every image (18 of the 30 ms a 320×240 image takes), and decodes into a typed
 * array per 8×8 block and per line (some 2,300 for 320×240); that garbage, promoted to the
 * worker's old generation, was the service's peak memory while toning small images one after
 * another. @jsquash/jpeg, chosen over a codec of our own, is a maintained packaging of
 * Squoosh's mozjpeg build (about 200,000 downloads a month; 1.6.0 of October 2025) whose
 * instances keep their tables and work in their own memory: a 320×240 image decodes in about
 * 2 ms (jpeg-js: 6) and encodes in about 11. But WebAssembly memory grows with the image and
 * never shrinks (a 12 MP image leaves the encoder's at 228 MiB), and the encoder's trellis
 * quantisation, which cannot be turned off through its options, makes it no faster than
 * jpeg-js from about 1 MP on. So mozjpeg takes what fits its initial memory (16 MiB; 1 MP of
 * noise, the worst case, grew the encoder's to 19.4 MiB), and jpeg-js, whose memory the
 * garbage collector gives back, the rare larger image.
 *
 * What is refused, and how, is jpeg-js's for every image libjpeg says anything about: it
 * decodes a truncated file, filling in grey, with only a warning, so such an image goes to
 * jpeg-js, which refuses it or not with its own errors and limits. libjpeg reads some damage
 * without a word, as the browsers built on it show it: a stray restart or TEM marker, which it
 * skips, and a bad Huffman code within the data, which its fast path reads as a zero. Such an
 * image is toned as libjpeg reads it, where jpeg-js alone refused it.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import createMozjpegDecoder, { type MozJPEGModule } from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import mozjpegEncode, { init as initMozjpegEncoder } from '@jsquash/jpeg/encode.js';
import { initEmscriptenModule } from '@jsquash/jpeg/utils.js';
import jpeg from 'jpeg-js';
import { readJpegFrame } from './jpeg-frame.ts';
import { MAX_DECODE_BYTES, MAX_PIXELS, NotAnImageError } from './limits.ts';

const MiB = 1024 * 1024;

/** The largest image (width × height) decoded and encoded by mozjpeg; larger ones are left to jpeg-js. */
export const MOZJPEG_MAX_PIXELS = 1_000_000;

let mozjpegEncoderReady = false;

/** Decodes a JPEG, tones it sepia and encodes it again. Rejects with NotAnImageError when it cannot be decoded. */
export async function sepiaJpeg(input: Uint8Array, quality = 85): Promise<Uint8Array<ArrayBuffer>> {
  const image = await decodeJpeg(input);
  toneSepia(image.data);
  try {
    return await encodeJpeg(image, quality);
  } finally {
    release(image.data.buffer);
  }
}

/**
 * Gives an ArrayBuffer's memory back now, detaching it (ES2024's `ArrayBuffer.prototype.transfer`,
 * on Deno and Node ≥ 22; on Node 20 the garbage collector frees it as before). V8 counts memory
 * outside its heap towards a full collection only from some 64 MiB of it on, and an image's
 * pixels (width × height × 4 bytes), with nothing else to collect, piled up to that. Throws
 * TypeError for a buffer already detached.
 */
export function release(buffer: ArrayBuffer): void {
  (buffer as { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
}

/** Decoded pixels, RGBA, 4 bytes a pixel, row by row, and which decoder made them. */
export interface DecodedJpeg {
  width: number;
  height: number;
  data: Uint8Array<ArrayBuffer>;
  decoder: 'mozjpeg' | 'jpeg-js';
}

/**
 * Decodes with mozjpeg an image of up to MOZJPEG_MAX_PIXELS that libjpeg reads without a
 * word, and everything else with jpeg-js, whose answer then stands. Rejects with NotAnImageError.
 */
export async function decodeJpeg(input: Uint8Array): Promise<DecodedJpeg> {
  if (declaredPixels(input) <= MOZJPEG_MAX_PIXELS) {
    const image = await decodeWithMozjpeg(input);
    if (image) return image;
  }
  return decodeWithJpegJs(input);
}

/** width × height from the frame header; Infinity when there is none to read (the decoder says why). */
function declaredPixels(input: Uint8Array): number {
  try {
    const { width, height } = readJpegFrame(input);
    return width * height;
  } catch {
    return Infinity;
  }
}

function decodeWithJpegJs(input: Uint8Array): DecodedJpeg {
  try {
    const { width, height, data } = jpeg.decode(Buffer.from(input.buffer, input.byteOffset, input.byteLength), {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_PIXELS / 1e6,
      // The tables the decoder also counts take a few KiB: one MiB over the limit is ample.
      maxMemoryUsageInMB: Math.ceil(MAX_DECODE_BYTES / MiB) + 1,
    });
    return { width, height, data: data as Uint8Array<ArrayBuffer>, decoder: 'jpeg-js' };
  } catch (error) {
    // The decoder's own messages describe its internals, not the upload; its limits are worth naming.
    const limit = error instanceof Error && /maxResolutionInMP|maxMemoryUsageInMB/.test(error.message);
    throw new NotAnImageError(limit ? `JPEG over the decoder's limits (${error.message})` : 'JPEG could not be decoded');
  }
}

/** What libjpeg said while decoding the current image: its warnings, and the error that ended it. */
let mozjpegMessages: string[] = [];
/** Where libjpeg says it: on the process's standard error otherwise, outside the service's JSON log. */
const keepMessages = { printErr: (message: string) => mozjpegMessages.push(message) } as Parameters<typeof initEmscriptenModule>[2];
let mozjpegDecoder: Promise<MozJPEGModule> | undefined;
/** Compiled once: after a libjpeg error only the instance is made anew. */
let mozjpegDecoderWasm: WebAssembly.Module | undefined;

/**
 * The image, or undefined when libjpeg said anything about it: a warning means it made up
 * what the file lacks (a truncated file decodes, grey where the data ends), and an error
 * ends its program halfway, leaving what it allocated in the instance, so a new one is made.
 * The codec's own module rather than decode.js's wrapper, which awaits between decodes:
 * decoding synchronously, every message is this image's.
 */
async function decodeWithMozjpeg(input: Uint8Array): Promise<DecodedJpeg | undefined> {
  mozjpegDecoderWasm ??= wasmModule('dec/mozjpeg_dec.wasm');
  mozjpegDecoder ??= initEmscriptenModule(createMozjpegDecoder, mozjpegDecoderWasm, keepMessages);
  const decoder = await mozjpegDecoder;
  mozjpegMessages = [];
  try {
    // Copied into the instance's memory, from a shared buffer as well.
    const image = decoder.decode(input as Uint8Array<ArrayBuffer>, false);
    if (!image || mozjpegMessages.length > 0) return undefined;
    const { width, height, data } = image;
    return { width, height, data: new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength), decoder: 'mozjpeg' };
  } catch {
    mozjpegDecoder = undefined;
    return undefined;
  }
}

/** A WebAssembly module the package ships, read from node_modules (as the image's --allow-read=/app allows). */
function wasmModule(codec: string): WebAssembly.Module {
  return new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve(`@jsquash/jpeg/codec/${codec}`)));
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
  if (!mozjpegEncoderReady) {
    void initMozjpegEncoder(wasmModule('enc/mozjpeg_enc.wasm'));
    mozjpegEncoderReady = true;
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
