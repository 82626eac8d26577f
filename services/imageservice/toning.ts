/**
 * Toning off the event loop: decoding, toning and encoding run in a pool of worker threads
 * (piscina, on Node's worker_threads, which Deno implements too), at most `workers` at a
 * time, with at most `queue` images waiting. A full queue is refused at once
 * (ToningBusyError: 503 with Retry-After), so health, image URLs and everything else stay
 * fast while images are toned, and a burst of uploads cannot pile up without bound.
 *
 * piscina rather than a pool of our own: a well-kept, widely used pool (tinypool is its
 * fork) with what is needed here (a fixed number of threads, a queue that can be measured,
 * run-time statistics), and it runs unchanged on Deno, with the
 * image's permissions (--allow-read of /app, --allow-env). Web Workers exist on Deno only.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { EnvReader } from '../../lib/config.ts';
import type { Span } from '../../lib/tracing/span.ts';
import { NotAnImageError } from './limits.ts';
import type { ToningAnswer } from './sepia-worker.ts';
import { ToningTime } from './toning-time.ts';

export interface ToningSettings {
  /** Images toned at once, one worker thread each. */
  workers: number;
  /** Images waiting beyond those; one more is refused. */
  queue: number;
}

/** IMAGE_WORKERS (default: the cores but one, at least one) and IMAGE_QUEUE (default 8). */
export function toningFromEnv(env: EnvReader): ToningSettings {
  return {
    workers: env.integer('IMAGE_WORKERS', Math.max(1, availableParallelism() - 1), { min: 1, max: 64 }),
    queue: env.integer('IMAGE_QUEUE', 8, { min: 0, max: 10_000 }),
  };
}

/** The queue is full: try again after `retryAfterSeconds`. */
export class ToningBusyError extends Error {
  override name = 'ToningBusyError';
  constructor(readonly retryAfterSeconds: number, queued: number) {
    super(`too many images being toned (${queued} waiting): retry after ${retryAfterSeconds} s`);
  }
}

export class Toning {
  readonly #pool: Piscina<ArrayBuffer, ToningAnswer>;
  readonly #settings: ToningSettings;
  readonly #time = new ToningTime();
  // The images admitted and not yet answered (toning or waiting), and their pixels.
  #imagesAhead = 0;
  #pixelsAhead = 0;

  constructor(settings: ToningSettings) {
    this.#settings = settings;
    this.#pool = new Piscina({
      filename: new URL('./sepia-worker.ts', import.meta.url).href,
      minThreads: settings.workers,
      maxThreads: settings.workers,
      // Bounded by tone() itself, which refuses before queueing rather than after.
      maxQueue: Infinity,
      idleTimeout: Infinity,
    });
  }

  /**
   * Tones an image of `pixels` pixels (width × height of the frame admitJpeg read) in a `sepia`
   * span below `parent`. Throws ToningBusyError when the queue is full, NotAnImageError when
   * the image cannot be decoded.
   */
  async tone(bytes: Uint8Array, pixels: number, parent: Span): Promise<Uint8Array<ArrayBuffer>> {
    const queued = this.#pool.queueSize;
    if (queued >= this.#settings.queue && this.#pool.idleThreads === 0) {
      throw new ToningBusyError(this.#retryAfterSeconds(), queued);
    }
    this.#imagesAhead += 1;
    this.#pixelsAhead += pixels;
    try {
      return await parent.trace('sepia', async (span) => {
        span.tag('image.bytes', bytes.byteLength);
        if (queued > 0) span.tag('image.queued_before', queued);
        // A copy of its own (a Buffer's slice() would share memory), moved to the worker (see sepia-worker.ts for why an ArrayBuffer).
        const input = new Uint8Array(bytes).buffer;
        const answer = await this.#pool.run(input, { transferList: [input] });
        // Only an image toned to its end says what its pixels cost: a broken one may fail early.
        if ('problem' in answer) throw new NotAnImageError(answer.problem);
        this.#time.record(pixels, answer.ms);
        return new Uint8Array(answer.jpeg);
      });
    } finally {
      this.#imagesAhead -= 1;
      this.#pixelsAhead -= pixels;
    }
  }

  /** Images being toned and waiting, for `/health`. */
  get details() {
    const { workers, queue } = this.#settings;
    return { workers, queueLimit: queue, queued: this.#pool.queueSize, busy: workers - this.#pool.idleThreads };
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }

  /**
   * Whole seconds until the images now admitted have all been toned, at least 1 and at most 60:
   * their count and pixels priced by ToningTime, shared among the workers. The images toning
   * count whole, as how far along they are is not known.
   */
  #retryAfterSeconds(): number {
    const ms = this.#time.estimateMs(this.#imagesAhead, this.#pixelsAhead) / this.#settings.workers;
    return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
  }
}
