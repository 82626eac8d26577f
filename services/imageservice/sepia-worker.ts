/**
 * The toning worker (a worker thread, on Node and on Deno alike): one image per task.
 * Takes and returns plain ArrayBuffers, moved without a copy: Deno clones a typed array
 * between threads slowly enough to block the receiving event loop (a second for 3 MB),
 * an ArrayBuffer at once. Returns what is wrong with the input as a string.
 */
import { Piscina } from 'piscina';
import { NotAnImageError } from './limits.ts';
import { release, sepiaJpeg } from './sepia.ts';

export default async function toneInWorker(input: ArrayBuffer): Promise<ArrayBuffer | string> {
  try {
    return Piscina.move(movableBuffer(await sepiaJpeg(new Uint8Array(input)))) as ArrayBuffer;
  } catch (error) {
    if (error instanceof NotAnImageError) return error.message;
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
