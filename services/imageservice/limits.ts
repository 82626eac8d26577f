/**
 * What imageservice accepts to tone, decided from the bytes and the JPEG's headers before
 * any decoding, so that a decompression bomb (a few hundred bytes declaring millions of
 * pixels) is refused at once. The limits, in the order they are checked:
 *
 * 1. at most MAX_UPLOAD_BYTES (8 MiB) of upload: 413;
 * 2. a JPEG the decoder supports: Huffman-coded baseline, extended or progressive, 8 bits
 *    per sample, 1 (grey) or 3 (colour) components: 400 otherwise;
 * 3. at most the pixel limit (width × height): MAX_PIXELS (25 megapixels), or less where
 *    IMAGE_MAX_PIXELS says so (a deployment whose memory holds smaller images): 413;
 * 4. no more pixels than the bytes can encode: every 8×8 block of every component costs at
 *    least one bit (its DC code, T.81 §F.1.2.1), so a frame declaring more blocks than eight
 *    per byte of image data is not an image but a bomb: 400;
 * 5. at most MAX_SCANS scans: every scan of a progressive JPEG goes over the whole image
 *    again, so thousands of scans of a few bytes each, up to the upload limit, would hold
 *    a toning worker for minutes: 400. Counting them walks the bytes once: about 2 ms a MiB
 *    on Node, 50 ms for 8 MiB of nothing but fill bytes, the worst case.
 *
 * Each refusal names the limit it hit. The decoder's own limits are set from these
 * (MAX_DECODE_BYTES covers every image the pixel limit admits), so it never refuses an
 * image that passed them.
 */
import type { EnvReader } from '../../lib/config.ts';
import { componentBlocks, countScans, NotAnImageError, readJpegFrame, type JpegFrame } from './jpeg-frame.ts';

export { NotAnImageError };

export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
/** The most pixels imageservice decodes: the default pixel limit, and the most IMAGE_MAX_PIXELS may set. */
export const MAX_PIXELS = 25_000_000;

/**
 * The most scans a JPEG may have. Encoders write one (baseline), one per component, or a
 * progression: libjpeg's cjpeg 10 for colour and 6 for grey, mozjpeg (@jsquash/jpeg), which
 * picks its scans for each image, 4 to 7 for the images tried.
 * A hundred leaves ample room for any of them.
 */
export const MAX_SCANS = 100;

/**
 * The pixel limit from IMAGE_MAX_PIXELS: 1 to MAX_PIXELS, MAX_PIXELS when unset. Decoding
 * takes memory in proportion to pixels (charts/README.md has the figures), so a container
 * sized for smaller images sets a lower limit instead of being killed by a large one.
 */
export function maxPixelsFromEnv(env: EnvReader): number {
  return env.integer('IMAGE_MAX_PIXELS', MAX_PIXELS, { min: 1, max: MAX_PIXELS });
}

/** An image over a size limit; the message names the limit. */
export class ImageTooLargeError extends Error {
  override name = 'ImageTooLargeError';
}

/**
 * Bytes jpeg-js 0.4 reserves (and counts against its `maxMemoryUsageInMB`) to decode a
 * frame to RGBA: 256 per 8×8 block of coefficients including MCU padding, one per sample of
 * each component for its output lines, one per pixel and component for the colour
 * conversion, and four per pixel for the RGBA result.
 */
export function decodeMemoryBytes(frame: Pick<JpegFrame, 'width' | 'height' | 'components'>): number {
  const pixels = frame.width * frame.height;
  let bytes = pixels * (frame.components.length + 4);
  for (const blocks of componentBlocks(frame)) {
    bytes += blocks.perLineForMcu * blocks.perColumnForMcu * 256 + blocks.perLine * 8 * blocks.perColumn * 8;
  }
  return bytes;
}

/**
 * The decoding memory allowed: what a 25 MP colour image takes (5000×5000, no subsampling),
 * plus 5 % for the padding of odd sizes and sampling factors. Within the pixel limit, with
 * at most 3 components and sides of at most 65535, no image needs more (limits.test.ts).
 */
export const MAX_DECODE_BYTES = Math.ceil(
  decodeMemoryBytes({ width: 5000, height: 5000, components: [{ h: 1, v: 1 }, { h: 1, v: 1 }, { h: 1, v: 1 }] }) * 1.05,
);

const SUPPORTED_CODING = new Set(['baseline', 'extended', 'progressive']);

/** The refusal of an upload over MAX_UPLOAD_BYTES, wherever it is noticed (declared, streamed or read). */
export const UPLOAD_TOO_LARGE = `image larger than ${MAX_UPLOAD_BYTES} bytes (the upload limit, 8 MiB)`;

/**
 * Checks an image against the limits above, in that order, `maxPixels` (at most MAX_PIXELS)
 * being the pixel limit, and returns its frame. Throws ImageTooLargeError or NotAnImageError
 * naming the limit or the problem.
 */
export function admitJpeg(bytes: Uint8Array, maxPixels = MAX_PIXELS): JpegFrame {
  if (bytes.byteLength > MAX_UPLOAD_BYTES) throw new ImageTooLargeError(UPLOAD_TOO_LARGE);
  const frame = readJpegFrame(bytes);
  if (!SUPPORTED_CODING.has(frame.coding)) throw new NotAnImageError(`unsupported JPEG: ${frame.coding} coding`);
  if (frame.precision !== 8) throw new NotAnImageError(`unsupported JPEG: ${frame.precision} bits per sample`);
  if (frame.components.length !== 1 && frame.components.length !== 3) {
    throw new NotAnImageError(`unsupported JPEG: ${frame.components.length} colour components (1 or 3 are)`);
  }
  if (frame.width === 0 || frame.height === 0) throw new NotAnImageError('unsupported JPEG: no size in its frame header');
  const size = `${frame.width}×${frame.height}`;
  const pixels = frame.width * frame.height;
  if (pixels > maxPixels) {
    const megapixels = maxPixels / 1e6;
    throw new ImageTooLargeError(
      `image of ${size} pixels (${pixels}) is over the limit of ${maxPixels} pixels (${megapixels} megapixel${megapixels === 1 ? '' : 's'})`,
    );
  }
  const blocks = componentBlocks(frame).reduce((sum, b) => sum + b.perLine * b.perColumn, 0);
  const dataBytes = bytes.byteLength - frame.scanDataOffset;
  if (dataBytes * 8 < blocks) {
    throw new NotAnImageError(`JPEG declares ${size} pixels, more than its ${dataBytes} bytes of image data can encode`);
  }
  if (countScans(bytes, frame.scanDataOffset, MAX_SCANS) > MAX_SCANS) {
    throw new NotAnImageError(`JPEG of more than ${MAX_SCANS} scans, the limit`);
  }
  return frame;
}
