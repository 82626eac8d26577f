/** Quotes, and the CPU work behind the `strength` knob. */

export interface Quote {
  quote: string;
  ipAddress: string;
  language: string;
}

const QUOTES = [
  'Simplicity is prerequisite for reliability.',
  'Premature optimization is the root of all evil.',
  'Make it work, make it right, make it fast.',
  'Talk is cheap. Show me the code.',
  'The most effective debugging tool is still careful thought.',
  'Everything should be made as simple as possible, but not simpler.',
  'Measuring programming progress by lines of code is like measuring aircraft building progress by weight.',
  'A distributed system is one in which the failure of a computer you did not know existed can render your own computer unusable.',
];

export const MAX_STRENGTH = 1000;

export function pickQuote(ipAddress: string): Quote {
  const quote = QUOTES[Math.floor(Math.random() * QUOTES.length)] ?? QUOTES[0]!;
  return { quote, ipAddress, language: 'en' };
}

/**
 * Burns CPU in proportion to `strength` (about a tenth of a millisecond per unit on a typical
 * core), returning a value so the work cannot be optimised away.
 */
export function burnCpu(strength: number): number {
  let x = 0x9e3779b9;
  for (let i = 0; i < strength * 50_000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}

/** Parses `strength`: a whole number from 0 to MAX_STRENGTH; absent is 0. */
export function parseStrength(raw: string | undefined): number | { error: string } {
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,7}$/.test(raw)) return { error: `strength must be a whole number from 0 to ${MAX_STRENGTH}` };
  const strength = Number(raw);
  if (strength > MAX_STRENGTH) return { error: `strength must be at most ${MAX_STRENGTH}` };
  return strength;
}
