import assert from 'node:assert/strict';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import { after, describe, it, mock, type TestContext } from 'node:test';
import jpeg from 'jpeg-js';
import { ConfigError, envReader } from '../../lib/config.ts';
import { createMemoryExporter } from '../../lib/tracing/exporter.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { NotAnImageError } from './limits.ts';
import { sepiaJpeg } from './sepia.ts';
import { makeJpeg } from './test-jpegs.ts';
import { Toning, ToningBusyError, toningFromEnv, type ToningSettings } from './toning.ts';

describe('toning in workers', () => {
  const exporter = createMemoryExporter();
  const tracing = new Tracing({ serviceName: 'imageservice', exporter });
  const toning = new Toning({ workers: 1, queue: 1 });
  after(() => toning.close());

  it('tones a JPEG in a worker, in a sepia span', async () => {
    const root = tracing.rootSpan('post /image', { kind: 'SERVER' });
    const out = await toning.tone(makeJpeg(64, 48, 'noise'), 64 * 48, root);
    root.finish();
    const image = jpeg.decode(out, { useTArray: true });
    assert.deepEqual([image.width, image.height], [64, 48]);
    const sepia = exporter.spans.find((s) => s.name === 'sepia');
    assert.equal(sepia?.parentId, root.spanId);
  });

  it('answers exactly the toned JPEG, however small, image after image', async () => {
    for (const size of [64, 32, 16, 64]) {
      const image = makeJpeg(size, size, 'noise');
      assert.deepEqual(await toning.tone(image, size * size, tracing.rootSpan('r')), await sepiaJpeg(image), `${size}×${size}`);
    }
  });

  it('leaves the caller\'s bytes as they were, a Buffer sharing its memory included', async () => {
    const image = makeJpeg(32, 32);
    const shared = Buffer.concat([Buffer.alloc(100), image]).subarray(100);
    await toning.tone(shared, 32 * 32, tracing.rootSpan('r'));
    await toning.tone(shared, 32 * 32, tracing.rootSpan('r'));
    assert.deepEqual(new Uint8Array(shared), image);
  });

  it('answers an image that cannot be decoded with NotAnImageError', async () => {
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    await assert.rejects(toning.tone(broken, 64 * 64, tracing.rootSpan('r')), NotAnImageError);
  });

  it('refuses at once beyond one image toning and one waiting, with a time to retry after', async () => {
    const image = makeJpeg(800, 800, 'noise');
    const root = tracing.rootSpan('r');
    const running = toning.tone(image, 800 * 800, root);
    const waiting = toning.tone(image, 800 * 800, root);
    const started = performance.now();
    await assert.rejects(toning.tone(image, 800 * 800, root), (error: unknown) => error instanceof ToningBusyError && error.retryAfterSeconds >= 1);
    assert.ok(performance.now() - started < 50, 'refused without waiting');
    assert.equal((await running).byteLength > 0 && (await waiting).byteLength > 0, true);
    assert.deepEqual(toning.details, { workers: 1, queueLimit: 1, queued: 0, busy: 0 });
  });
});

describe('toning settings', () => {
  it('tones on all cores but one, at least one, with 8 images waiting, unless told otherwise', (t) => {
    // toning.ts reads node:os's named export, which follows the module's object once synced.
    const cores = mock.method(os, 'availableParallelism', () => 8);
    syncBuiltinESMExports();
    t.after(() => {
      cores.mock.restore();
      syncBuiltinESMExports();
    });
    assert.deepEqual(toningFromEnv(envReader({})), { workers: 7, queue: 8 });
    cores.mock.mockImplementation(() => 1);
    assert.deepEqual(toningFromEnv(envReader({})), { workers: 1, queue: 8 });
  });

  it('reads IMAGE_WORKERS (1 to 64) and IMAGE_QUEUE (0 to 10 000)', () => {
    assert.deepEqual(toningFromEnv(envReader({ IMAGE_WORKERS: '3', IMAGE_QUEUE: '0' })), { workers: 3, queue: 0 });
    assert.deepEqual(toningFromEnv(envReader({ IMAGE_WORKERS: '64', IMAGE_QUEUE: '10000' })), { workers: 64, queue: 10_000 });
    for (const [name, value] of [['IMAGE_WORKERS', '0'], ['IMAGE_WORKERS', '65'], ['IMAGE_QUEUE', '-1'], ['IMAGE_QUEUE', '10001']]) {
      const refused = (error: unknown) => error instanceof ConfigError && error.variable === name;
      assert.throws(() => toningFromEnv(envReader({ [name!]: value })), refused, `${name}=${value}`);
    }
  });
});

describe('admitting images', () => {
  const tracing = new Tracing({ serviceName: 'imageservice', exporter: createMemoryExporter() });
  /** A pool of its own, closed when the test ends. */
  const toningFor = (t: TestContext, settings: ToningSettings) => {
    const toning = new Toning(settings);
    t.after(() => toning.close());
    return toning;
  };
  /** Offers `count` images at once (none can finish meanwhile): the answers, a ToningBusyError for each refused. */
  const offer = (toning: Toning, count: number) => {
    const image = makeJpeg(16, 16);
    const root = tracing.rootSpan('r');
    const answers = Array.from({ length: count }, () => toning.tone(image, 16 * 16, root).catch((error: unknown) => error));
    return Promise.all(answers);
  };
  const refusals = (answers: unknown[]) => answers.filter((answer) => answer instanceof ToningBusyError);

  it('with no queue, tones an image on an idle worker and refuses the next at once', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 0 });
    const [first, second] = await offer(toning, 2);
    assert.ok(first instanceof Uint8Array, `the first: ${first}`);
    assert.ok(second instanceof ToningBusyError, `the second: ${second}`);
  });

  it('refuses the image beyond the queue with a ToningBusyError naming those waiting and when to retry', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 2 });
    const answers = await offer(toning, 4);
    assert.equal(answers.filter((answer) => answer instanceof Uint8Array).length, 3);
    const [busy] = refusals(answers) as ToningBusyError[];
    assert.equal(busy?.name, 'ToningBusyError');
    // Before any image has been toned, a second per image: the one toning and the two waiting, on one worker.
    assert.equal(busy?.retryAfterSeconds, 3);
    assert.equal(busy?.message, 'too many images being toned (2 waiting): retry after 3 s');
  });

  it('spreads the time to retry after over the workers', async (t) => {
    const toning = toningFor(t, { workers: 2, queue: 3 });
    const answers = await offer(toning, 6);
    // Two toning and three waiting, a second each before any has been toned, on two workers: 2.5 s.
    assert.deepEqual(refusals(answers).map((busy) => (busy as ToningBusyError).retryAfterSeconds), [3]);
  });

  it('asks to retry after a minute at most', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 60 });
    const answers = await offer(toning, 62);
    assert.deepEqual(refusals(answers).map((busy) => (busy as ToningBusyError).retryAfterSeconds), [60]);
  });

  it('once images have been toned, reckons the time to retry after from the times they took', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 2 });
    // Toned one after the other, each took at most its own wait: their mean is at most the mean wait.
    // (The first one's includes the worker thread's start, so the mean is measured, not assumed small.)
    const toned = 20;
    const started = performance.now();
    for (let i = 0; i < toned; i++) await toning.tone(makeJpeg(16, 16), 16 * 16, tracing.rootSpan('r'));
    const meanAtMost = (performance.now() - started) / toned;
    // Three images (one toning, two waiting) on one worker, in whole seconds: under the 3 s reckoned before any was toned.
    const atMost = Math.max(1, Math.ceil((meanAtMost * 3) / 1000));
    assert.ok(atMost < 3, `${meanAtMost} ms an image: too slow to tell the mean from the default`);
    const [busy] = refusals(await offer(toning, 4)) as ToningBusyError[];
    assert.ok(busy !== undefined && busy.retryAfterSeconds <= atMost, `retry after ${busy?.retryAfterSeconds} s, not at most ${atMost} s`);
  });

  it('reckons the time to retry after from the pixels ahead, not from a mean per image, nor from images it could not tone', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 3 });
    // Learnt from small and middling images, toned one after the other.
    for (const size of [64, 1024, 64, 1024]) await toning.tone(makeJpeg(size, size), size * size, tracing.rootSpan('r'));
    /** The Retry-After of the fifth of five images of size × size offered at once: one toning, three waiting. */
    const refusedBehind = async (size: number) => {
      const image = makeJpeg(size, size);
      const answers = Array.from({ length: 5 }, () => toning.tone(image, size * size, tracing.rootSpan('r')).catch((error: unknown) => error));
      const refused = await answers[4];
      assert.ok(refused instanceof ToningBusyError, String(refused));
      return { seconds: refused.retryAfterSeconds, answers };
    };
    // Images that cannot be decoded say nothing of what pixels cost, however many they declare.
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    for (let i = 0; i < 10; i++) await assert.rejects(toning.tone(broken, 2048 * 2048, tracing.rootSpan('r')), NotAnImageError);
    const small = await refusedBehind(64);
    await Promise.all(small.answers);
    // Four 4-megapixel images ahead take some 160 ms a megapixel here: a mean per image learnt mostly from small
    // images would ask for a second.
    const large = await refusedBehind(2048);
    assert.equal(small.seconds, 1);
    assert.ok(large.seconds >= 2, `retry after ${large.seconds} s behind four 2048×2048 images`);
    // The large ones are abandoned, not awaited.
    await toning.close();
    await Promise.all(large.answers);
  });

  it('tags each sepia span with the image\'s size, and with the images queued ahead when there were any', async (t) => {
    const exporter = createMemoryExporter();
    const traced = new Tracing({ serviceName: 'imageservice', exporter });
    const toning = toningFor(t, { workers: 1, queue: 2 });
    const image = makeJpeg(16, 16);
    const roots = [0, 1, 2].map(() => traced.rootSpan('post /image', { kind: 'SERVER' }));
    // The first tones at once, the second waits alone, the third behind it.
    await Promise.all(roots.map((root) => toning.tone(image, 16 * 16, root)));
    const tags = roots.map((root) => exporter.spans.find((span) => span.name === 'sepia' && span.parentId === root.spanId)?.tags);
    assert.deepEqual(tags, [
      { 'image.bytes': String(image.byteLength) },
      { 'image.bytes': String(image.byteLength) },
      { 'image.bytes': String(image.byteLength), 'image.queued_before': '1' },
    ]);
  });

  it('ends its worker threads when closed, abandoning an image still being toned', async (t) => {
    const toning = toningFor(t, { workers: 1, queue: 0 });
    const toned = toning.tone(makeJpeg(256, 256, 'noise'), 256 * 256, tracing.rootSpan('r')).then(
      () => 'toned',
      (error: unknown) => error,
    );
    await toning.close();
    const answer = await toned;
    assert.ok(answer instanceof Error && !(answer instanceof ToningBusyError) && !(answer instanceof NotAnImageError), String(answer));
  });
});
