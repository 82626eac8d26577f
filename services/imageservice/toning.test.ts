import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { createMemoryExporter } from '../../lib/tracing/exporter.ts';
import { Tracing } from '../../lib/tracing/tracer.ts';
import { NotAnImageError } from './limits.ts';
import { sepiaJpeg } from './sepia.ts';
import { makeJpeg } from './test-jpegs.ts';
import { Toning, ToningBusyError } from './toning.ts';

describe('toning in workers', () => {
  const exporter = createMemoryExporter();
  const tracing = new Tracing({ serviceName: 'imageservice', exporter });
  const toning = new Toning({ workers: 1, queue: 1 });
  after(() => toning.close());

  it('tones a JPEG in a worker, in a sepia span', async () => {
    const root = tracing.rootSpan('post /image', { kind: 'SERVER' });
    const out = await toning.tone(makeJpeg(64, 48, 'noise'), root);
    root.finish();
    const image = jpeg.decode(out, { useTArray: true });
    assert.deepEqual([image.width, image.height], [64, 48]);
    const sepia = exporter.spans.find((s) => s.name === 'sepia');
    assert.equal(sepia?.parentId, root.spanId);
  });

  it('answers exactly the toned JPEG, however small, image after image', async () => {
    // Under 4 KiB, the encoder's Buffer lies in Node's shared pool: only its own bytes may go back.
    for (const size of [64, 32, 16, 64]) {
      const image = makeJpeg(size, size, 'noise');
      assert.deepEqual(await toning.tone(image, tracing.rootSpan('r')), new Uint8Array(sepiaJpeg(image)), `${size}×${size}`);
    }
  });

  it('leaves the caller\'s bytes as they were, a Buffer sharing its memory included', async () => {
    const image = makeJpeg(32, 32);
    const shared = Buffer.concat([Buffer.alloc(100), image]).subarray(100);
    await toning.tone(shared, tracing.rootSpan('r'));
    await toning.tone(shared, tracing.rootSpan('r'));
    assert.deepEqual(new Uint8Array(shared), image);
  });

  it('answers an image that cannot be decoded with NotAnImageError', async () => {
    const broken = makeJpeg(64, 64, 'noise');
    broken.fill(0xff, broken.length - 400, broken.length - 2);
    await assert.rejects(toning.tone(broken, tracing.rootSpan('r')), NotAnImageError);
  });

  it('refuses at once beyond one image toning and one waiting, with a time to retry after', async () => {
    const image = makeJpeg(800, 800, 'noise');
    const root = tracing.rootSpan('r');
    const running = toning.tone(image, root);
    const waiting = toning.tone(image, root);
    const started = performance.now();
    await assert.rejects(toning.tone(image, root), (error: unknown) => error instanceof ToningBusyError && error.retryAfterSeconds >= 1);
    assert.ok(performance.now() - started < 50, 'refused without waiting');
    assert.equal((await running).byteLength > 0 && (await waiting).byteLength > 0, true);
    assert.deepEqual(toning.details, { workers: 1, queueLimit: 1, queued: 0, busy: 0 });
  });
});
