import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { componentBlocks, countScans, NotAnImageError, readJpegFrame } from './jpeg-frame.ts';
import { bytesOf, EOI, frameHeader, makeJpeg, scanHeader, segment, SOI } from './test-jpegs.ts';

/** A grey frame header (SOF0, 16×16, one component) and a scan with one byte of data after it. */
const grey = { width: 16, height: 16 };
const frameAndScan = bytesOf(frameHeader(grey), scanHeader(1), [0x00]);
/** The content of a Huffman table segment (DHT): one one-bit code, in a DC and in an AC table. */
const huffmanTables = [0x00, 1, ...new Array(15).fill(0), 0x00, 0x10, 1, ...new Array(15).fill(0), 0x00];

/** Asserts that reading `bytes` throws a NotAnImageError with exactly `message`. */
function refuses(bytes: ArrayLike<number>, message: string) {
  assert.throws(() => readJpegFrame(bytesOf(bytes)), (error: Error) => {
    assert.ok(error instanceof NotAnImageError);
    assert.equal(error.name, 'NotAnImageError');
    assert.equal(error.message, message);
    return true;
  });
}

describe('JPEG frame header', () => {
  it('reads size, precision, coding and sampling factors, and where the first scan\'s data begins', () => {
    const components = [{ h: 2, v: 1 }, { h: 1, v: 3 }, { h: 4, v: 4 }];
    const head = bytesOf(
      SOI,
      segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00]),
      segment(0xdb, [0x00, ...new Array(64).fill(1)]),
      // Both bytes of each size count: 291 = 0x0123, 1110 = 0x0456.
      frameHeader({ width: 1110, height: 291, precision: 12, components }, 0xc1),
      segment(0xc4, huffmanTables),
      // A segment longer than 255 bytes: its length's high byte counts too.
      segment(0xfe, new Array(300).fill(0x20)),
      scanHeader(3),
    );
    assert.deepEqual(readJpegFrame(bytesOf(head, [0x12, 0x34], EOI)), {
      width: 1110,
      height: 291,
      precision: 12,
      coding: 'extended',
      components,
      scanDataOffset: head.length,
    });
  });

  it('names the coding of each of the thirteen frame header markers', () => {
    const codings: Record<number, string> = {
      0xc0: 'baseline', 0xc1: 'extended', 0xc2: 'progressive', 0xc3: 'lossless',
      0xc5: 'hierarchical', 0xc6: 'hierarchical', 0xc7: 'hierarchical',
      0xc9: 'arithmetic', 0xca: 'arithmetic', 0xcb: 'arithmetic', 0xcd: 'arithmetic', 0xce: 'arithmetic', 0xcf: 'arithmetic',
    };
    for (const [marker, coding] of Object.entries(codings)) {
      const frame = readJpegFrame(bytesOf(SOI, frameHeader(grey, Number(marker)), scanHeader(1), [0x00]));
      assert.equal(frame.coding, coding, `marker ${Number(marker).toString(16)}`);
      assert.equal(frame.width, 16);
    }
  });

  it('takes DHT, JPG and DAC segments (C4, C8, CC, in the SOF range) and reserved ones (02..BF) for what they are, not for frames', () => {
    // Each holds what would be a valid frame header: read as one, the real frame header would be a second.
    const asFrame = frameHeader(grey).slice(4);
    for (const marker of [0x02, 0xbf, 0xc4, 0xc8, 0xcc]) {
      const frame = readJpegFrame(bytesOf(SOI, segment(marker, asFrame), frameHeader({ width: 8, height: 24 }), scanHeader(1), [0x00]));
      assert.equal(frame.height, 24, `marker ${marker.toString(16)}`);
    }
  });

  it('skips fill bytes before a marker and the markers without a length (TEM, RST0..7)', () => {
    const head = bytesOf(
      SOI,
      [0xff, 0xff, 0xff],
      segment(0xe0, [0x01, 0x02]),
      // Each is followed by 0xFF: read as a length, it would run far past the end.
      [0xff, 0x01],
      [0xff, 0xd0],
      [0xff, 0xd7],
      frameHeader(grey),
      [0xff, 0xff, 0xff, 0xd3],
      scanHeader(1),
    );
    assert.equal(readJpegFrame(bytesOf(head, [0x00])).scanDataOffset, head.length);
  });

  it('takes a segment of length 2 as empty, and one ending at the last byte as complete', () => {
    assert.equal(readJpegFrame(bytesOf(SOI, segment(0xfe), frameAndScan)).width, 16);
    const scanAtTheEnd = bytesOf(SOI, frameHeader(grey), segment(0xda));
    assert.equal(readJpegFrame(scanAtTheEnd).scanDataOffset, scanAtTheEnd.length);
    refuses(bytesOf(SOI, frameHeader(grey), segment(0xfe, [0x20, 0x20])), 'JPEG has no image data');
  });

  it('refuses bytes that do not begin with SOI and a marker', () => {
    for (const bytes of [[], [0xff, 0xd8, 0xff], [0x00, 0xd8, 0xff, 0xd9], [0xff, 0xd9, 0xff, 0xd9], [0xff, 0xd8, 0x00, 0xd9], [...new TextEncoder().encode('hello')]]) {
      refuses(bytes, 'body is not a JPEG image');
    }
    refuses([0xff, 0xd8, 0xff, 0xd9], 'JPEG has no frame header');
  });

  it('names the byte where a marker is missing', () => {
    refuses(bytesOf(SOI, segment(0xfe, [1, 2, 3]), [0x00], frameAndScan), 'JPEG malformed: no marker at byte 9');
  });

  it('refuses a segment whose length is under 2 or runs past the end', () => {
    for (const length of [[0x00, 0x00], [0x00, 0x01]]) {
      refuses(bytesOf(SOI, [0xff, 0xfe, ...length], frameAndScan), 'JPEG malformed: a segment runs past the end');
    }
    refuses(bytesOf(SOI, frameHeader(grey), [0xff, 0xfe, 0x00, 0x05, 0x20, 0x20]), 'JPEG malformed: a segment runs past the end');
  });

  it('stops at EOI, at trailing fill bytes and at a length cut short, as a JPEG without what is missing', () => {
    refuses(bytesOf(SOI, frameHeader(grey), EOI, scanHeader(1), [0x00]), 'JPEG has no image data');
    refuses(bytesOf(SOI, EOI, frameAndScan), 'JPEG has no frame header');
    refuses(bytesOf(SOI, frameHeader(grey), [0xff, 0xff]), 'JPEG has no image data');
    refuses(bytesOf(SOI, frameHeader(grey), [0xff, 0xda, 0x00]), 'JPEG has no image data');
    refuses(bytesOf(SOI, [0xff, 0xfe, 0x00]), 'JPEG has no frame header');
  });

  it('refuses a second frame header and a scan before the frame header', () => {
    refuses(bytesOf(SOI, frameHeader(grey), frameHeader(grey, 0xc2), scanHeader(1), [0x00]), 'JPEG has more than one frame');
    refuses(bytesOf(SOI, scanHeader(1), frameHeader(grey), [0x00]), 'JPEG malformed: a scan before the frame header');
  });

  it('refuses a frame header too short for its fields or for its components', () => {
    const colour = frameHeader({ ...grey, components: [{ h: 1, v: 1 }, { h: 1, v: 1 }, { h: 1, v: 1 }] }).slice(4);
    const contents = [
      [8, 0, 16, 0, 16],
      [8, 0, 16, 0, 16, 0],
      frameHeader(grey).slice(4, -1),
      colour.slice(0, -1),
    ];
    for (const content of contents) {
      refuses(bytesOf(SOI, segment(0xc0, content), scanHeader(1), [0x00]), 'JPEG malformed: a short frame header');
    }
    assert.equal(readJpegFrame(bytesOf(SOI, segment(0xc0, colour), scanHeader(3), [0x00])).components.length, 3);
  });

  it('accepts sampling factors 1 to 4 and refuses 0 and 5, horizontal or vertical', () => {
    const read = (h: number, v: number) =>
      readJpegFrame(bytesOf(SOI, frameHeader({ ...grey, components: [{ h: 1, v: 1 }, { h, v }] }), scanHeader(2), [0x00]));
    for (const [h, v] of [[1, 1], [4, 4], [1, 4], [4, 1], [2, 3]] as const) {
      assert.deepEqual(read(h, v).components, [{ h: 1, v: 1 }, { h, v }]);
    }
    for (const [h, v] of [[0, 1], [5, 1], [1, 0], [1, 5]] as const) {
      assert.throws(() => read(h, v), /^NotAnImageError: JPEG malformed: a sampling factor outside 1\.\.4$/, `${h}×${v}`);
    }
  });

  it('counts each component\'s 8×8 blocks, with and without the padding to whole MCUs', () => {
    // 4:2:0 at 37×19: 5×3 blocks of luma; MCUs of 16×16 pixels, 3×2 of them.
    assert.deepEqual(componentBlocks({ width: 37, height: 19, components: [{ h: 2, v: 2 }, { h: 1, v: 1 }, { h: 1, v: 1 }] }), [
      { perLine: 5, perColumn: 3, perLineForMcu: 6, perColumnForMcu: 4 },
      { perLine: 3, perColumn: 2, perLineForMcu: 3, perColumnForMcu: 2 },
      { perLine: 3, perColumn: 2, perLineForMcu: 3, perColumnForMcu: 2 },
    ]);
    // Factors differing across and within components at 50×9: 7×2 blocks at full resolution; MCUs of 32×24 pixels, 2×1 of them.
    assert.deepEqual(componentBlocks({ width: 50, height: 9, components: [{ h: 1, v: 3 }, { h: 2, v: 1 }, { h: 4, v: 1 }] }), [
      { perLine: 2, perColumn: 2, perLineForMcu: 2, perColumnForMcu: 3 },
      { perLine: 4, perColumn: 1, perLineForMcu: 4, perColumnForMcu: 1 },
      { perLine: 7, perColumn: 1, perLineForMcu: 8, perColumnForMcu: 1 },
    ]);
  });
});

describe('JPEG scans', () => {
  /** A scan's header and its data: a stuffed 0xFF, the first and last restart markers, fill bytes before the next marker. */
  const scan = bytesOf(scanHeader(1), [0x12, 0x34, 0xff, 0x00, 0x56, 0xff, 0xd0, 0xff, 0xd7, 0x78, 0xff, 0xff]);
  const scans = (count: number, ...after: ArrayLike<number>[]) =>
    bytesOf(SOI, frameHeader(grey), ...new Array(count).fill(scan), ...after);
  const count = (bytes: Uint8Array, limit?: number) => countScans(bytes, readJpegFrame(bytes).scanDataOffset, limit);

  it('counts one in a baseline JPEG', () => {
    assert.equal(count(makeJpeg(64, 48, 'noise')), 1);
  });

  it('counts every scan, past stuffed bytes, restart markers, fill bytes and tables between them', () => {
    assert.equal(count(scans(7, EOI)), 7);
    // What a segment holds is skipped whole, whatever its bytes look like.
    const tablesBetween = bytesOf(SOI, frameHeader(grey), scan, segment(0xc4, [...huffmanTables, 0xff, 0xda, 0x00, 0x02]), segment(0xfe, [0xff, 0xda]), scan, EOI);
    assert.equal(count(tablesBetween), 2);
  });

  it('stops at EOI, at the end of the bytes and at a segment running past it', () => {
    assert.equal(count(scans(3, EOI, scan, scan)), 3);
    assert.equal(count(scans(3, EOI, [0x00, 0x02], scan)), 3);
    assert.equal(count(scans(3)), 3);
    assert.equal(count(scans(3, [0xff])), 3);
    // A scan header cut before its length is none; one whose length runs past the end is one.
    assert.equal(count(scans(3, [0xff, 0xda, 0x00])), 3);
    assert.equal(count(scans(3, [0xff, 0xda, 0x00, 0x40])), 4);
    assert.equal(count(scans(3, [0xff, 0xda, 0x00, 0x40, 0x01])), 4);
  });

  it('stops counting once over the limit', () => {
    assert.equal(count(scans(1000, EOI), 100), 101);
  });
});
