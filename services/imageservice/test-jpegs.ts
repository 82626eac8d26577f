/** Real JPEGs of chosen sizes for the tests: made with jpeg-js, padded, or with their headers rewritten. */
import jpeg from 'jpeg-js';

/** A JPEG of `width`×`height` pixels: mid grey (fast to encode, small), or noise (slow to decode, large). */
export function makeJpeg(width: number, height: number, fill: 'grey' | 'noise' = 'grey', quality = 50): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(width * height * 4).fill(128);
  if (fill === 'noise') {
    let x = 0x2545f491;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
  }
  return new Uint8Array(jpeg.encode({ width, height, data }, quality).data);
}

/** The same JPEG grown to exactly `total` bytes with comment segments (COM, at most 65 535 bytes each) after SOI. */
export function padJpeg(image: Uint8Array, total: number): Uint8Array<ArrayBuffer> {
  let missing = total - image.length;
  if (missing !== 0 && missing < 4) throw new RangeError(`cannot pad by ${missing} bytes`);
  const segments: Uint8Array[] = [];
  while (missing > 0) {
    // Each segment is 4 to 65 537 bytes; never leave a remainder too small for one.
    let size = Math.min(missing, 65_537);
    if (missing - size > 0 && missing - size < 4) size -= 4;
    const segment = new Uint8Array(size);
    segment.set([0xff, 0xfe, (size - 2) >> 8, (size - 2) & 0xff]);
    segment.fill(0x20, 4);
    segments.push(segment);
    missing -= size;
  }
  const out = new Uint8Array(total);
  out.set(image.subarray(0, 2));
  let at = 2;
  for (const segment of segments) {
    out.set(segment, at);
    at += segment.length;
  }
  out.set(image.subarray(2), at);
  return out;
}

/** A decompression bomb: a small real JPEG whose frame header now declares `width`×`height` pixels. */
export function bombJpeg(width: number, height: number): Uint8Array<ArrayBuffer> {
  const bomb = makeJpeg(16, 16);
  for (let at = 2; at < bomb.length - 9; ) {
    const marker = bomb[at + 1]!;
    if (marker === 0xc0 || marker === 0xc2) {
      bomb.set([height >> 8, height & 0xff, width >> 8, width & 0xff], at + 5);
      return bomb;
    }
    at += 2 + ((bomb[at + 2]! << 8) | bomb[at + 3]!);
  }
  throw new Error('no frame header');
}

/** A scan bomb: a small real JPEG (3 components) with scans of one byte added before its end, `scans` in all. */
export function scanBombJpeg(scans: number): Uint8Array<ArrayBuffer> {
  const image = makeJpeg(16, 16);
  const scan = bytesOf(scanHeader(3), [0x00]);
  return bytesOf(image.subarray(0, -2), ...new Array<Uint8Array>(scans - 1).fill(scan), EOI);
}

/** A copy of `image` whose first Huffman table (DHT) has code counts no table can have: libjpeg ends its program on it. */
export function withBogusHuffmanTable(image: Uint8Array): Uint8Array<ArrayBuffer> {
  const bogus = new Uint8Array(image);
  const dht = bogus.findIndex((byte, at) => byte === 0xff && bogus[at + 1] === 0xc4);
  bogus.fill(0xff, dht + 5, dht + 21);
  return bogus;
}

/** A marker segment: 0xFF, `marker`, then its length (two bytes, counting themselves) and `content`. */
export function segment(marker: number, content: ArrayLike<number> = []): number[] {
  const length = content.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...Array.from(content)];
}

/** The bytes of `parts` one after the other. */
export function bytesOf(...parts: ArrayLike<number>[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const SOI = [0xff, 0xd8];
export const EOI = [0xff, 0xd9];

export interface FrameSpec {
  width: number;
  height: number;
  precision?: number;
  /** Sampling factors per component (ids 1, 2, …; quantisation table 0): one grey component unless given. */
  components?: { h: number; v: number }[];
}

/** A frame header segment (SOF0 unless `marker` says otherwise), T.81 §B.2.2. */
export function frameHeader({ width, height, precision = 8, components = [{ h: 1, v: 1 }] }: FrameSpec, marker = 0xc0): number[] {
  return segment(marker, [
    precision, height >> 8, height & 0xff, width >> 8, width & 0xff, components.length,
    ...components.flatMap(({ h, v }, i) => [i + 1, (h << 4) | v, 0]),
  ]);
}

/** A scan header segment (SOS) for `count` components, every one with Huffman tables 0, T.81 §B.2.3. */
export function scanHeader(count: number): number[] {
  return segment(0xda, [count, ...Array.from({ length: count }, (_, i) => [i + 1, 0x00]).flat(), 0, 63, 0]);
}

/**
 * A flat mid-grey JPEG built byte by byte, with any size and sampling factors: one quantisation
 * table, and Huffman tables of a single one-bit code each (DC difference 0, end of block), so that
 * every 8×8 block of the (interleaved) scan is two 0 bits. jpeg-js decodes it; the tables cost the
 * decoder 256 bytes (quantisation) and 2 × 17 bytes (Huffman): FLAT_JPEG_TABLE_BYTES. `marker`
 * names its frame header (SOF0, baseline, unless given).
 */
export function flatJpeg(frame: FrameSpec, marker = 0xc0): Uint8Array<ArrayBuffer> {
  const components = frame.components ?? [{ h: 1, v: 1 }];
  const maxH = Math.max(...components.map((c) => c.h));
  const maxV = Math.max(...components.map((c) => c.v));
  // A scan of one component is not interleaved: its blocks are the component's own (T.81 §A.2.2).
  const blocks = components.length === 1
    ? Math.ceil(frame.width / 8) * Math.ceil(frame.height / 8)
    : Math.ceil(frame.width / 8 / maxH) * Math.ceil(frame.height / 8 / maxV) * components.reduce((sum, c) => sum + c.h * c.v, 0);
  const bits = 2 * blocks;
  const data = new Uint8Array(Math.ceil(bits / 8));
  // The last byte is padded with 1 bits (T.81 §F.1.2.3).
  if (bits % 8 !== 0) data[data.length - 1] = (1 << (8 - (bits % 8))) - 1;
  const oneCode = (tableClass: number) => [tableClass << 4, 1, ...new Array(15).fill(0), 0x00];
  return bytesOf(
    SOI,
    segment(0xdb, [0x00, ...new Array(64).fill(1)]),
    frameHeader({ ...frame, components }, marker),
    segment(0xc4, [...oneCode(0), ...oneCode(1)]),
    scanHeader(components.length),
    data,
    EOI,
  );
}

/** What jpeg-js counts for the tables of a flatJpeg, besides the frame's own memory. */
export const FLAT_JPEG_TABLE_BYTES = 256 + 2 * 17;
