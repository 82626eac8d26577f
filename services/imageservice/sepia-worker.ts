/**
 * The toning worker (a worker thread, on Node and on Deno alike): one image per task.
 * Returns the toned JPEG, moved to the caller without a copy, or what is wrong with the input.
 */
import { Piscina } from 'piscina';
import { NotAnImageError } from './limits.ts';
import { sepiaJpeg } from './sepia.ts';

export default function toneInWorker(bytes: Uint8Array): Uint8Array<ArrayBuffer> | string {
  try {
    return Piscina.move(sepiaJpeg(bytes)) as Uint8Array<ArrayBuffer>;
  } catch (error) {
    if (error instanceof NotAnImageError) return error.message;
    throw error;
  }
}
