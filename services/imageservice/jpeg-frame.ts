/**
 * What a JPEG declares about itself, read from its marker segments without decoding
 * anything: the frame header (size, precision, coding, components and their sampling),
 * where the entropy-coded data of the first scan begins, and how many scans follow.
 * ITU-T T.81 (JPEG), Annex B.
 */

export class NotAnImageError extends Error {
  override name = 'NotAnImageError';
}

export type JpegCoding = 'baseline' | 'extended' | 'progressive' | 'lossless' | 'hierarchical' | 'arithmetic';

export interface JpegComponent {
  /** Horizontal and vertical sampling factors, 1..4. */
  h: number;
  v: number;
}

export interface JpegFrame {
  width: number;
  height: number;
  /** Bits per sample. */
  precision: number;
  coding: JpegCoding;
  components: JpegComponent[];
  /** Offset of the first scan's entropy-coded data. */
  scanDataOffset: number;
}

const SOI = 0xd8;
const SOS = 0xda;
const EOI = 0xd9;
/** Markers without a length (T.81 Table B.1): TEM, RST0..7, SOI, EOI. */
const standalone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9);
/** RST0..RST7, which may stand within a scan's entropy-coded data (T.81 §B.1.1.5). */
const isRestart = (marker: number) => marker >= 0xd0 && marker <= 0xd7;
/** SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
const isFrameHeader = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function codingOf(marker: number): JpegCoding {
  if (marker >= 0xc9) return 'arithmetic';
  if (marker >= 0xc5) return 'hierarchical';
  return (['baseline', 'extended', 'progressive', 'lossless'] as const)[marker - 0xc0]!;
}

/**
 * Reads the frame header and finds the first scan. Throws NotAnImageError naming what is
 * wrong when the bytes are not a JPEG or its segments are malformed.
 */
export function readJpegFrame(bytes: Uint8Array): JpegFrame {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI || bytes[2] !== 0xff) {
    throw new NotAnImageError('body is not a JPEG image');
  }
  let frame: Omit<JpegFrame, 'scanDataOffset'> | undefined;
  let at = 2;
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) throw new NotAnImageError(`JPEG malformed: no marker at byte ${at}`);
    // Any number of 0xFF fill bytes may precede a marker (T.81 §B.1.1.2).
    while (bytes[at] === 0xff && at < bytes.length) at++;
    const marker = bytes[at++];
    if (marker === undefined) break;
    if (marker === EOI) break;
    if (standalone(marker)) continue;
    if (at + 2 > bytes.length) break;
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (length < 2 || at + length > bytes.length) throw new NotAnImageError('JPEG malformed: a segment runs past the end');
    if (isFrameHeader(marker)) {
      if (frame) throw new NotAnImageError('JPEG has more than one frame');
      frame = parseFrameHeader(bytes.subarray(at + 2, at + length), marker);
    } else if (marker === SOS) {
      if (!frame) throw new NotAnImageError('JPEG malformed: a scan before the frame header');
      return { ...frame, scanDataOffset: at + length };
    }
    at += length;
  }
  throw new NotAnImageError(frame ? 'JPEG has no image data' : 'JPEG has no frame header');
}

/**
 * Counts the scans (SOS segments) from the first, whose entropy-coded data begins at
 * `firstScanData`, stopping once there are more than `limit`: the work is bounded by the
 * bytes, never by the scans. Within a scan's data a 0xFF byte is followed by 0x00 (a
 * stuffed byte) or RST0..7; any other marker ends the data (T.81 §B.1.1.5, §F.1.2.3).
 * Stops at EOI, at the end of the bytes and at a segment that runs past it: what is
 * wrong with such a file is the decoder's to say.
 */
export function countScans(bytes: Uint8Array, firstScanData: number, limit = Infinity): number {
  let scans = 1;
  let at = firstScanData;
  const end = bytes.length - 1;
  while (scans <= limit) {
    // A loop rather than indexOf: a call per 0xFF costs 20 times as much where they are dense.
    while (at < end && bytes[at] !== 0xff) at++;
    const marker = bytes[at + 1];
    // A stuffed byte or a restart: still the scan's data. A fill byte: the marker follows.
    if (marker === 0x00 || isRestart(marker!)) at += 2;
    else if (marker === 0xff) at += 1;
    // The end of the image, or of the bytes before a marker segment's length.
    else if (marker === EOI || at + 4 > bytes.length) break;
    else {
      if (marker === SOS) scans++;
      at += 2 + ((bytes[at + 2]! << 8) | bytes[at + 3]!);
    }
  }
  return scans;
}

/** SOFn: P (8 bits), Y, X (16 bits), Nf, then per component C, H|V, Tq (T.81 §B.2.2). */
function parseFrameHeader(segment: Uint8Array, marker: number): Omit<JpegFrame, 'scanDataOffset'> {
  if (segment.length < 6) throw new NotAnImageError('JPEG malformed: a short frame header');
  const count = segment[5]!;
  if (count === 0 || segment.length < 6 + 3 * count) throw new NotAnImageError('JPEG malformed: a short frame header');
  const components: JpegComponent[] = [];
  for (let i = 0; i < count; i++) {
    const sampling = segment[6 + 3 * i + 1]!;
    const component = { h: sampling >> 4, v: sampling & 0x0f };
    if (component.h < 1 || component.h > 4 || component.v < 1 || component.v > 4) {
      throw new NotAnImageError('JPEG malformed: a sampling factor outside 1..4');
    }
    components.push(component);
  }
  return {
    precision: segment[0]!,
    height: (segment[1]! << 8) | segment[2]!,
    width: (segment[3]! << 8) | segment[4]!,
    coding: codingOf(marker),
    components,
  };
}

/** Blocks of 8×8 samples per component, as a decoder lays them out (T.81 §A.2). */
export function componentBlocks(frame: Pick<JpegFrame, 'width' | 'height' | 'components'>) {
  const maxH = Math.max(...frame.components.map((c) => c.h));
  const maxV = Math.max(...frame.components.map((c) => c.v));
  const mcusPerLine = Math.ceil(frame.width / 8 / maxH);
  const mcusPerColumn = Math.ceil(frame.height / 8 / maxV);
  return frame.components.map(({ h, v }) => ({
    /** Blocks covering the component's samples. */
    perLine: Math.ceil((Math.ceil(frame.width / 8) * h) / maxH),
    perColumn: Math.ceil((Math.ceil(frame.height / 8) * v) / maxV),
    /** Blocks including the padding to whole MCUs. */
    perLineForMcu: mcusPerLine * h,
    perColumnForMcu: mcusPerColumn * v,
  }));
}
