/**
 * Trace and span ids: 64 random bits per span id, 128 per trace id, as lowercase hex
 * (B3 and W3C Trace Context both ask for random, non-zero ids).
 *
 * The randomness comes from the runtime's CSPRNG (`crypto.getRandomValues`, on Node and
 * Deno alike) 2 KiB at a time, hex-encoded in one native call; each id is then a
 * 16-character slice of that text. A slice keeps its 4 KiB of text alive while the id
 * lives, which bounds nothing that matters (the exporter holds at most 10 000 spans).
 */
import { Buffer } from 'node:buffer';

const POOL_BYTES = 2048;
const bytes = new Uint8Array(POOL_BYTES);
let hex = '';
let at = 0;

/** `chars` random hex characters (16 or 32; both divide the pool's text, so no slice straddles a refill). */
function randomHex(chars: 16 | 32): string {
  if (at + chars > hex.length) {
    crypto.getRandomValues(bytes);
    hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
    at = 0;
  }
  return hex.slice(at, (at += chars));
}

const ZERO_64 = '0'.repeat(16);
const ZERO_128 = '0'.repeat(32);

/** A new span id: 16 lowercase hex characters, not all zero. */
export function newSpanId(): string {
  let id = randomHex(16);
  while (id === ZERO_64) id = randomHex(16);
  return id;
}

/** A new 128-bit trace id: 32 lowercase hex characters, not all zero. */
export function newTraceId(): string {
  let id = randomHex(32);
  while (id === ZERO_128) id = randomHex(32);
  return id;
}
