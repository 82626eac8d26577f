/**
 * The image an account gets while imageservice cannot give one: a small JPEG of a
 * head-and-shoulders silhouette in sepia tones, drawn and encoded once (jpeg-js) when the
 * service starts, and served by accountservice itself at PLACEHOLDER_PATH.
 */
import jpeg from 'jpeg-js';

export const PLACEHOLDER_PATH = '/placeholder.jpg';

const SIZE = 160;
const BACKGROUND = [236, 226, 208] as const;
const FIGURE = [184, 164, 134] as const;

/** `inside(x, y)` for the silhouette: a round head over the shoulders' half ellipse. */
function inFigure(x: number, y: number): boolean {
  const head = (x - 80) ** 2 + (y - 62) ** 2 <= 30 ** 2;
  const shoulders = ((x - 80) / 58) ** 2 + ((y - 164) / 56) ** 2 <= 1;
  return head || shoulders;
}

/** Draws and encodes the placeholder: a JPEG of SIZE × SIZE pixels, about 2 KB. */
export function placeholderJpeg(): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(SIZE * SIZE * 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const [r, g, b] = inFigure(x, y) ? FIGURE : BACKGROUND;
      data.set([r, g, b, 255], (y * SIZE + x) * 4);
    }
  }
  return new Uint8Array(jpeg.encode({ data, width: SIZE, height: SIZE }, 80).data);
}
