/**
 * Sepia toning of JPEG images, in pure JavaScript (jpeg-js): the same code runs on
 * Node and on Deno with no native addon to build or load, and decoding is bounded in
 * resolution and memory so a hostile upload cannot exhaust the process.
 */
import { Buffer } from 'node:buffer';
import jpeg from 'jpeg-js';

export const MAX_MEGAPIXELS = 25;
const MAX_DECODE_MEMORY_MB = 256;

export class NotAnImageError extends Error {
  override name = 'NotAnImageError';
}

/** Decodes a JPEG, tones it sepia and encodes it again. */
export function sepiaJpeg(input: Uint8Array, quality = 85): Uint8Array<ArrayBuffer> {
  // SOI and the next marker's FF (an index past the end reads undefined, so short input fails too).
  if (input[0] !== 0xff || input[1] !== 0xd8 || input[2] !== 0xff) {
    throw new NotAnImageError('body is not a JPEG image');
  }
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(Buffer.from(input.buffer, input.byteOffset, input.byteLength), {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_MEGAPIXELS,
      maxMemoryUsageInMB: MAX_DECODE_MEMORY_MB,
    });
  } catch (error) {
    // The decoder's own messages describe its internals, not the upload; its limits are worth naming.
    const limit = error instanceof Error && /maxResolutionInMP|maxMemoryUsageInMB/.test(error.message);
    throw new NotAnImageError(limit ? `image larger than ${MAX_MEGAPIXELS} megapixels` : 'JPEG could not be decoded');
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
