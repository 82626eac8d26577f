import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { IMAGE_FALLBACK } from './accounts.ts';
import { PLACEHOLDER_PATH, placeholderJpeg } from './placeholder.ts';

const BACKGROUND = [236, 226, 208];
const FIGURE = [184, 164, 134];

/**
 * The silhouette as the picture is meant to be, in whole numbers: a head of radius 30 centred
 * at (80, 62), and shoulders, the top of an ellipse 2 × 58 wide and 2 × 56 high centred at
 * (80, 164), below the image's bottom edge.
 */
function inSilhouette(x: number, y: number): boolean {
  const head = (x - 80) ** 2 + (y - 62) ** 2 <= 30 ** 2;
  const shoulders = 56 ** 2 * (x - 80) ** 2 + 58 ** 2 * (y - 164) ** 2 <= 58 ** 2 * 56 ** 2;
  return head || shoulders;
}

describe('placeholder image', () => {
  it('is served at /placeholder.jpg, where the image fallback points', () => {
    assert.equal(PLACEHOLDER_PATH, '/placeholder.jpg');
    assert.equal(IMAGE_FALLBACK.url, PLACEHOLDER_PATH);
  });

  it('is a JPEG of 160 × 160 pixels, about 2 KB, in a buffer of its own', () => {
    const bytes = placeholderJpeg();
    assert.ok(bytes.byteLength > 1_000 && bytes.byteLength < 4_000, `${bytes.byteLength} bytes`);
    // Not a view on Node's shared pool of small Buffers: it is served as it is.
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, bytes.byteLength);
    const image = jpeg.decode(bytes, { useTArray: true });
    assert.deepEqual([image.width, image.height], [160, 160]);
  });

  it('shows the figure on the head and shoulders and the background around them, in sepia tones', () => {
    const image = jpeg.decode(placeholderJpeg(), { useTArray: true });
    const pixel = (x: number, y: number) => [...image.data.subarray((y * 160 + x) * 4, (y * 160 + x) * 4 + 3)];
    const near = (x: number, y: number, colour: number[]) => {
      const got = pixel(x, y);
      assert.ok(got.every((v, i) => Math.abs(v - colour[i]!) <= 4), `(${x}, ${y}) is ${got}, not about ${colour}`);
    };
    // Inside: the head's centre, the shoulders' top and middle, and a shoulder's edge at the bottom.
    for (const [x, y] of [[80, 62], [80, 115], [80, 150], [30, 156]] as const) near(x, y, FIGURE);
    // Outside: the corners, above the head, beside the head and the neck, below a shoulder's edge.
    for (const [x, y] of [[4, 4], [155, 4], [4, 155], [155, 155], [80, 20], [30, 62], [130, 100], [22, 130]] as const) {
      near(x, y, BACKGROUND);
    }
    for (const [r, g, b] of [FIGURE, BACKGROUND]) assert.ok(r! > g! && g! > b!, 'sepia: red over green over blue');
  });

  it('is exactly the silhouette drawn pixel for pixel, encoded at quality 80', () => {
    const data = new Uint8Array(160 * 160 * 4);
    for (let i = 0; i < 160 * 160; i++) {
      const colour = inSilhouette(i % 160, Math.floor(i / 160)) ? FIGURE : BACKGROUND;
      data.set([...colour, 255], i * 4);
    }
    // The encoder is deterministic: one pixel put differently (an edge of the head or the shoulders) changes the bytes.
    const expected = new Uint8Array(jpeg.encode({ data, width: 160, height: 160 }, 80).data);
    assert.deepEqual(placeholderJpeg(), expected);
  });
});
