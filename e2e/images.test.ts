/**
 * imageservice under image load and hostile images, as a real process: toning runs in
 * worker threads, so `/health/live` stays fast while images are toned (on Node and on Deno);
 * a full queue answers 503 with Retry-After; a decompression bomb is refused at once; and
 * the size limits hold exactly where the README puts them, each refusal naming its limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readJpegFrame } from '../services/imageservice/jpeg-frame.ts';
import { MAX_SCANS, MAX_UPLOAD_BYTES } from '../services/imageservice/limits.ts';
import { bombJpeg, makeJpeg, padJpeg, scanBombJpeg } from '../services/imageservice/test-jpegs.ts';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import { startService, type RunningService, type Runtime } from '../tools/landscape.ts';
import { sleep, until } from '../tools/wait.ts';
import { closeCheckingSpans, waitForTrace } from './support.ts';

const WORKERS = 1;
const QUEUE = 4;
/** Generous: a blocked event loop shows seconds here, a free one milliseconds. */
const LIVE_BOUND_MS = 1000;

async function startImageservice(runtime: Runtime, extraEnv: Record<string, string> = {}) {
  const collector = await startCollector({ port: 0 });
  const env = { PORT: '0', ZIPKIN_URL: collector.url, ZIPKIN_EXPORT_INTERVAL_MS: '200', IMAGE_WORKERS: String(WORKERS), IMAGE_QUEUE: String(QUEUE), ...extraEnv };
  const lines: string[] = [];
  const images = await startService('imageservice', env, { runtime, onLog: (_name, line) => lines.push(line) });
  return { images, collector, lines, close: () => closeCheckingSpans(collector, () => images.stop()) };
}

const post = (images: RunningService, body: Uint8Array<ArrayBuffer>) => fetch(`${images.url}/image`, { method: 'POST', body });

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

for (const runtime of ['node', 'deno'] as const) {
  describe(`imageservice under image load on ${runtime}`, () => {
    let service: Awaited<ReturnType<typeof startImageservice>>;
    before(async () => (service = await startImageservice(runtime)));
    after(() => service?.close());

    it('keeps /health/live fast while images are toned, and refuses beyond its queue with 503 and Retry-After', async (t) => {
      const { images } = service;
      const image = makeJpeg(1500, 1500, 'noise');
      // One toning and QUEUE waiting: one more is refused.
      const uploads = Array.from({ length: WORKERS + QUEUE + 1 }, () => post(images, image));
      const latencies: number[] = [];
      let done = false;
      const answers = Promise.all(
        uploads.map(async (upload) => {
          const response = await upload;
          return { status: response.status, retryAfter: response.headers.get('retry-after'), body: new Uint8Array(await response.arrayBuffer()) };
        }),
      ).finally(() => (done = true));
      while (!done) {
        const started = performance.now();
        const live = await fetch(`${images.url}/health/live`);
        await live.body?.cancel();
        assert.equal(live.status, 200);
        latencies.push(performance.now() - started);
        await sleep(25);
      }
      const results = await answers;
      const sorted = latencies.sort((a, b) => a - b);
      t.diagnostic(
        `/health/live during ${results.length} uploads of a 1500×1500 image: ${sorted.length} probes, ` +
          `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
      );
      assert.ok(sorted.at(-1)! < LIVE_BOUND_MS, `/health/live answered within ${LIVE_BOUND_MS} ms (max ${sorted.at(-1)!.toFixed(0)} ms)`);

      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [...Array(WORKERS + QUEUE).fill(200), 503]);
      const busy = results.find((r) => r.status === 503)!;
      assert.ok(Number(busy.retryAfter) >= 1, `Retry-After: ${busy.retryAfter}`);
      assert.match(JSON.parse(new TextDecoder().decode(busy.body)).error, /^too many images being toned \(\d+ waiting\): retry after \d+ s$/);
      for (const r of results.filter((r) => r.status === 200)) assert.equal(readJpegFrame(r.body).width, 1500);
    });
  });
}

for (const runtime of ['node', 'deno'] as const) {
  describe(`an upload its client abandons, on ${runtime}`, () => {
    let service: Awaited<ReturnType<typeof startImageservice>>;
    before(async () => (service = await startImageservice(runtime)));
    after(() => service?.close());

    for (const [what, framing, partial] of [
      ['short of its Content-Length', 'Content-Length: 100000', 'a'.repeat(1000)],
      ['in the middle of a chunk', 'Transfer-Encoding: chunked', `3e8\r\n${'a'.repeat(500)}`],
    ] as const) {
      it(`is the client's 400, not the service's failure: ${what}`, async () => {
        const traceId = randomBytes(16).toString('hex');
        const socket = connect(service.images.port, '127.0.0.1');
        await once(socket, 'connect');
        const head = `POST /image HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${traceId}-b7ad6b7169203331-01\r\n${framing}\r\n\r\n`;
        await new Promise<void>((resolve, reject) => socket.write(head + partial, (error) => (error ? reject(error) : resolve())));
        socket.destroy();

        let line: { level?: string; status?: number; error?: string } | undefined;
        await until(() => {
          const found = service.lines.find((l) => l.includes(traceId) && l.includes('"msg":"request"'));
          return (line = found && JSON.parse(found)) !== undefined;
        }, 15_000, 'the access line of the abandoned upload');
        assert.equal(line!.status, 400);
        assert.equal(line!.level, 'info');
        assert.match(line!.error ?? '', /^request body could not be read to its end/);
        const [span] = await waitForTrace(service.collector.url, traceId, (spans) => spans.length > 0);
        assert.equal(span!.tags?.['http.status_code'], '400');
        assert.equal(span!.tags?.['error'], undefined, 'not marked failed: the client went away');
        const health = await fetch(`${service.images.url}/health`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
      });
    }
  });
}

describe('imageservice limits over HTTP', () => {
  let service: Awaited<ReturnType<typeof startImageservice>>;
  before(async () => (service = await startImageservice('node')));
  after(() => service?.close());

  const error = async (response: Response) => ((await response.json()) as { error: string }).error;

  it('refuses a decompression bomb at once, before decoding', async (t) => {
    const bomb = bombJpeg(5000, 5000);
    const started = performance.now();
    const response = await post(service.images, bomb);
    const ms = performance.now() - started;
    assert.equal(response.status, 400);
    // Only the header check says this: the decoder never saw the bomb (limits.test.ts times the check itself).
    assert.match(await error(response), /^JPEG declares 5000×5000 pixels, more than its \d+ bytes of image data can encode$/);
    t.diagnostic(`a ${bomb.byteLength}-byte JPEG declaring 25 megapixels refused in ${ms.toFixed(1)} ms over HTTP`);
  });

  it('takes a multipart upload whatever the case of its media type', async () => {
    const image = makeJpeg(64, 64);
    const boundary = 'XyZ';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      image,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const response = await fetch(`${service.images.url}/image`, { method: 'POST', body, headers: { 'content-type': `Multipart/Form-Data; boundary=${boundary}` } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/jpeg');
    await response.body?.cancel();
  });

  it('refuses a JPEG of more scans than the limit, naming it', async () => {
    const response = await post(service.images, scanBombJpeg(MAX_SCANS + 1));
    assert.equal(response.status, 400);
    assert.equal(await error(response), `JPEG of more than ${MAX_SCANS} scans, the limit`);
  });

  it('accepts 8 MiB of upload and one byte less, and refuses one byte more, naming the upload limit', async () => {
    const small = makeJpeg(64, 64);
    for (const size of [MAX_UPLOAD_BYTES - 1, MAX_UPLOAD_BYTES]) {
      const response = await post(service.images, padJpeg(small, size));
      assert.equal(response.status, 200, `${size} bytes`);
      await response.body?.cancel();
    }
    const over = await post(service.images, padJpeg(small, MAX_UPLOAD_BYTES + 1));
    assert.equal(over.status, 413);
    assert.equal(await error(over), 'image larger than 8388608 bytes (the upload limit, 8 MiB)');
  });

  it('tones a 25-megapixel JPEG and refuses one of a pixel row more, naming the pixel limit', async (t) => {
    const over = await post(service.images, makeJpeg(5000, 5001));
    assert.equal(over.status, 413);
    assert.equal(await error(over), 'image of 5000×5001 pixels (25005000) is over the limit of 25000000 pixels (25 megapixels)');

    const started = performance.now();
    const at = await post(service.images, makeJpeg(5000, 5000));
    const body = new Uint8Array(await at.arrayBuffer());
    assert.equal(at.status, 200, new TextDecoder().decode(body.subarray(0, 200)));
    const frame = readJpegFrame(body);
    assert.deepEqual([frame.width, frame.height], [5000, 5000]);
    t.diagnostic(`25 MP toned in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
});

describe('imageservice with a lower pixel limit (IMAGE_MAX_PIXELS)', () => {
  let service: Awaited<ReturnType<typeof startImageservice>>;
  before(async () => (service = await startImageservice('deno', { IMAGE_MAX_PIXELS: '1500000' })));
  after(() => service?.close());

  it('tones an image at its limit, refuses one a pixel row over naming that limit, and shows it in /health', async () => {
    const at = await post(service.images, makeJpeg(1500, 1000));
    const body = new Uint8Array(await at.arrayBuffer());
    assert.equal(at.status, 200, new TextDecoder().decode(body.subarray(0, 200)));
    assert.deepEqual([readJpegFrame(body).width, readJpegFrame(body).height], [1500, 1000]);
    const over = await post(service.images, makeJpeg(1500, 1001));
    assert.equal(over.status, 413);
    assert.deepEqual(await over.json(), { error: 'image of 1500×1001 pixels (1501500) is over the limit of 1500000 pixels (1.5 megapixels)' });
    const health = (await (await fetch(`${service.images.url}/health`)).json()) as { details: { maxPixels: number } };
    assert.equal(health.details.maxPixels, 1_500_000);
  });
});

/** A request body sent without a declared length (chunked), as a stream of `bytes`. */
const streamed = (bytes: Uint8Array) => ({
  body: new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.byteLength; at += 65_536) controller.enqueue(bytes.slice(at, at + 65_536));
      controller.close();
    },
  }),
  duplex: 'half',
});

for (const runtime of ['node', 'deno'] as const) {
  describe(`uploads without a declared length, on ${runtime}`, () => {
    it('are toned or refused as any upload, and the service writes nothing but JSON lines', async () => {
      const service = await startImageservice(runtime);
      let stopped = false;
      try {
        const { images } = service;
        const image = makeJpeg(64, 64);
        const raw = await fetch(`${images.url}/image`, { method: 'POST', ...streamed(image) } as RequestInit);
        assert.equal(raw.status, 200);
        assert.equal(readJpegFrame(new Uint8Array(await raw.arrayBuffer())).width, 64);
        const boundary = 'b0undary';
        const form = Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
          image,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        const multipart = await fetch(`${images.url}/image`, {
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
          ...streamed(form),
        } as RequestInit);
        assert.equal(multipart.status, 200);
        await multipart.body?.cancel();
        const over = await fetch(`${images.url}/image`, { method: 'POST', ...streamed(padJpeg(image, MAX_UPLOAD_BYTES + 1)) } as RequestInit);
        assert.deepEqual([over.status, await over.json()], [413, { error: 'image larger than 8388608 bytes (the upload limit, 8 MiB)' }]);
        // Everything the process wrote, standard error included, once both its pipes have closed.
        const closed = [images.process.stdout!, images.process.stderr!].map((stream) => (stream.closed ? undefined : once(stream, 'close')));
        assert.equal(await images.stop(), 0);
        stopped = true;
        await Promise.all(closed);
        const notJson = service.lines.filter((line) => {
          try {
            return typeof JSON.parse(line) !== 'object';
          } catch {
            return true;
          }
        });
        assert.deepEqual(notJson, []);
        assert.equal(service.lines.filter((line) => line.includes('"msg":"request"')).length, 3);
      } finally {
        if (!stopped) await service.images.stop();
        await service.collector.close();
      }
    });
  });
}
