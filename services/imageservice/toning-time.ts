/**
 * How long toning takes, as learnt from the images toned so far: a time per image (the decoder's
 * and encoder's set-up, the trip to the worker) plus a time per pixel, fitted by least squares
 * over the images toned, the latest weighing most. An image's pixels alone do not tell its time:
 * a small one costs mostly its set-up, a large one mostly its pixels, so a mean per image
 * learnt from small images told a queue of large ones to retry far too soon.
 */
export interface ToningTimeOptions {
  /** Milliseconds an image is assumed to take before any has been toned. */
  initialMsPerImage?: number;
  /** How much each earlier image's weight is kept when the next is recorded, in (0, 1]: 0.98 lets about the last 50 count. */
  decay?: number;
}

export class ToningTime {
  readonly #initialMsPerImage: number;
  readonly #decay: number;
  // Weighted sums over the images recorded: of 1, pixels, ms, pixels², pixels × ms.
  #n = 0;
  #p = 0;
  #t = 0;
  #pp = 0;
  #pt = 0;

  constructor({ initialMsPerImage = 1000, decay = 0.98 }: ToningTimeOptions = {}) {
    this.#initialMsPerImage = initialMsPerImage;
    this.#decay = decay;
  }

  /** Records that an image of `pixels` (width × height) took `ms` milliseconds to tone. */
  record(pixels: number, ms: number): void {
    const keep = this.#decay;
    this.#n = this.#n * keep + 1;
    this.#p = this.#p * keep + pixels;
    this.#t = this.#t * keep + ms;
    this.#pp = this.#pp * keep + pixels * pixels;
    this.#pt = this.#pt * keep + pixels * ms;
  }

  /**
   * Milliseconds that toning `images` images of `pixels` pixels in all takes one worker: at
   * first `initialMsPerImage` each, then as fitted. A fit that would make either time negative
   * (too few images, or noise) keeps the other alone; images all of one size give a time per
   * pixel only, which errs long, not short, for a larger image.
   */
  estimateMs(images: number, pixels: number): number {
    if (this.#n === 0) return images * this.#initialMsPerImage;
    const { perImage, perPixel } = this.#fit();
    return images * perImage + pixels * perPixel;
  }

  #fit(): { perImage: number; perPixel: number } {
    const meanP = this.#p / this.#n;
    const meanT = this.#t / this.#n;
    const varP = this.#pp / this.#n - meanP * meanP;
    const perPixelOnly = { perImage: 0, perPixel: meanP > 0 ? meanT / meanP : 0 };
    // Sizes that differ by less than 1 % cannot tell the set-up from the pixels.
    if (!(varP > (meanP * 0.01) ** 2)) return perPixelOnly;
    const perPixel = (this.#pt / this.#n - meanP * meanT) / varP;
    if (perPixel < 0) return { perImage: meanT, perPixel: 0 };
    const perImage = meanT - perPixel * meanP;
    return perImage < 0 ? perPixelOnly : { perImage, perPixel };
  }
}
