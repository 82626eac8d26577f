/** Real JPEGs of chosen sizes for the tests: made with jpeg-js, padded, or with their frame header rewritten. */
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
