/**
 * The toning worker (a worker thread, on Node and on Deno alike): one image per task.
 * Takes and returns plain ArrayBuffers, moved without a copy: Deno clones a typed array
 * between threads slowly enough to block the receiving event loop (a second for 3 MB),
 * an ArrayBuffer at once. Returns what is wrong with the input as a string.
 */
import { Piscina } from 'piscina';
import { NotAnImageError } from './limits.ts';
import { sepiaJpeg } from './sepia.ts';

export default function toneInWorker(input: ArrayBuffer): ArrayBuffer | string {
  try {
    const toned = sepiaJpeg(new Uint8Array(input));
    // A small JPEG is a Buffer in Node's shared 8 KiB pool, whose slice() is a view, not a copy:
    // only a copy of its own bytes may be moved, or the answer carries the whole pool.
    const output = toned.byteOffset === 0 && toned.byteLength === toned.buffer.byteLength ? toned.buffer : new Uint8Array(toned).buffer;
    return Piscina.move(output) as ArrayBuffer;
  } catch (error) {
    if (error instanceof NotAnImageError) return error.message;
    throw error;
  }
}
