import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ToningTime } from './toning-time.ts';

describe('ToningTime', () => {
  it('assumes a second an image before any has been toned, or what it is told', () => {
    assert.equal(new ToningTime().estimateMs(3, 30_000_000), 3000);
    assert.equal(new ToningTime({ initialMsPerImage: 50 }).estimateMs(2, 1), 100);
  });

  it('learns a time per image and a time per pixel from images of different sizes', () => {
    const time = new ToningTime();
    // 5 ms of set-up and 0.2 ms a thousand pixels.
    for (const pixels of [4_096, 1_048_576, 76_800, 4_096, 1_048_576]) time.record(pixels, 5 + pixels * 0.0002);
    assert.ok(Math.abs(time.estimateMs(1, 4_096) - 5.8192) < 1e-6);
    // Four 4-megapixel images: 4 × 5 + 16,777,216 × 0.0002.
    assert.ok(Math.abs(time.estimateMs(4, 16_777_216) - 3375.4432) < 1e-6);
  });

  it('prices a queue of large images by their pixels after many small ones, where a mean per image would not', () => {
    const time = new ToningTime();
    for (let i = 0; i < 40; i++) time.record(256, 1);
    for (let i = 0; i < 2; i++) time.record(1_000_000, 200);
    const meanPerImage = (40 * 1 + 2 * 200) / 42;
    const fourLarge = time.estimateMs(4, 4_000_000);
    assert.ok(fourLarge > 750 && fourLarge < 850, `${fourLarge} ms, against ${4 * meanPerImage} by a mean per image`);
  });

  it('with images of one size only, prices by the pixel: long rather than short for larger ones', () => {
    const time = new ToningTime();
    for (let i = 0; i < 10; i++) time.record(76_800, 30);
    assert.equal(time.estimateMs(1, 76_800), 30);
    // Two images of 384,000 pixels, five times as many each.
    assert.equal(time.estimateMs(2, 768_000), 300);
  });

  it('keeps both times from going below zero when the times recorded are noise', () => {
    // Each image weighs the same here, for round figures.
    const noise = new ToningTime({ decay: 1 });
    // Larger images that took less: no time per pixel, the mean per image.
    noise.record(1_000, 10);
    noise.record(1_000_000, 2);
    assert.equal(noise.estimateMs(2, 5_000_000), 12);
    const overhead = new ToningTime({ decay: 1 });
    // A line through these would start below zero: priced by the pixel alone.
    overhead.record(1_000, 1);
    overhead.record(1_000_000, 2000);
    assert.ok(Math.abs(overhead.estimateMs(1, 1_000_000) - (2001 / 1_001_000) * 1_000_000) < 1e-6);
  });

  it('lets the latest images weigh most, so that it follows a change of speed', () => {
    const time = new ToningTime();
    for (let i = 0; i < 200; i++) time.record(i % 2 ? 1_000_000 : 10_000, i % 2 ? 100 : 1);
    for (let i = 0; i < 200; i++) time.record(i % 2 ? 1_000_000 : 10_000, i % 2 ? 400 : 4);
    const now = time.estimateMs(1, 1_000_000);
    assert.ok(now > 390 && now <= 400, `${now} ms for a megapixel, at 400 lately`);
  });
});
