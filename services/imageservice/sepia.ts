/**
 * Sepia toning of JPEG images, in pure JavaScript (jpeg-js): the same code runs on
 * Node and on Deno with no native addon to build or load. It runs in the toning workers
 * (toning.ts), on images already checked against the limits (limits.ts); the decoder's own
 * limits are set from the same numbers, as a second line only.
 */
import { Buffer } from 'node:buffer';
import jpeg from 'jpeg-js';
import { MAX_DECODE_BYTES, MAX_PIXELS, NotAnImageError } from './limits.ts';

const MiB = 1024 * 1024;

/** Decodes a JPEG, tones it sepia and encodes it again. Throws NotAnImageError when it cannot be decoded. */
export function sepiaJpeg(input: Uint8Array, quality = 85): Uint8Array<ArrayBuffer> {
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
  return jpeg.encode(image, quality).data as Uint8Array<ArrayBuffer>;
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
