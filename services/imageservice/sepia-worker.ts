/**
 * The toning worker (a worker thread, on Node and on Deno alike): one image per task.
 * Takes a plain ArrayBuffer and answers one moved without a copy: Deno clones a typed array
 * between threads slowly enough to block the receiving event loop (a second for 3 MB), an
 * ArrayBuffer at once.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { NotAnImageError } from './limits.ts';
import { release, sepiaJpeg } from './sepia.ts';

/** A task's answer: the toned JPEG or what is wrong with the input, and the worker's time on it. */
export type ToningAnswer = ({ jpeg: ArrayBuffer } | { problem: string }) & {
  /** Milliseconds from the task's start in the worker to its answer. */
  ms: number;
};

export default async function toneInWorker(input: ArrayBuffer): Promise<ToningAnswer> {
  const started = performance.now();
  try {
    const jpeg = movableBuffer(await sepiaJpeg(new Uint8Array(input)));
    const answer: ToningAnswer = { jpeg, ms: performance.now() - started };
    // The answer is posted as is, its JPEG moved with it (piscina's Transferable interface).
    return move({ [transferableSymbol]: jpeg, [valueSymbol]: answer }) as unknown as ToningAnswer;
  } catch (error) {
    if (error instanceof NotAnImageError) return { problem: error.message, ms: performance.now() - started };
    throw error;
  } finally {
    release(input);
  }
}

/**
 * The ArrayBuffer to move for `bytes`: their own when they fill it, else a copy of just them.
 * The encoders answer a buffer of the JPEG's own, but a view into a larger one (a small Buffer
 * lies in Node's shared 8 KiB pool, whose slice() is a view, not a copy) would move the whole
 * of it: only a copy of its own bytes may be moved then.
 */
export function movableBuffer(bytes: Uint8Array<ArrayBuffer>): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : new Uint8Array(bytes).buffer;
}
