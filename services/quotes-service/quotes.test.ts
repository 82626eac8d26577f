import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { burnCpu, MAX_STRENGTH, parseStrength, pickQuote } from './quotes.ts';

describe('quotes', () => {
  it('parses strength as a whole number from 0 to the maximum', () => {
    assert.equal(parseStrength(undefined), 0);
    assert.equal(parseStrength(''), 0);
    assert.equal(parseStrength('4'), 4);
    assert.equal(parseStrength(String(MAX_STRENGTH)), MAX_STRENGTH);
    for (const bad of ['-1', '1.5', '1e3', 'x', String(MAX_STRENGTH + 1), '99999999999']) {
      const parsed = parseStrength(bad);
      assert.ok(typeof parsed === 'object' && /strength/.test(parsed.error), bad);
    }
  });

  it('burns more CPU for more strength, deterministically', () => {
    // xorshift32 from the golden-ratio seed: 50,000 rounds per unit of strength.
    assert.deepEqual([burnCpu(0), burnCpu(1), burnCpu(2)], [2654435769, 3462926614, 798318209]);
    const time = (strength: number) => {
      const started = performance.now();
      burnCpu(strength);
      return performance.now() - started;
    };
    time(20);
    assert.ok(time(200) > time(2), 'a hundred times the strength takes longer');
  });

  it('answers a quote in the original shape, one of several', () => {
    const quote = pickQuote('10.0.0.1');
    assert.deepEqual(Object.keys(quote).sort(), ['ipAddress', 'language', 'quote']);
    assert.equal(quote.ipAddress, '10.0.0.1');
    assert.equal(quote.language, 'en');
    const quotes = Array.from({ length: 400 }, () => pickQuote('x').quote);
    assert.ok(quotes.every((q) => typeof q === 'string' && q.length > 20), 'every quote is a sentence');
    assert.equal(new Set(quotes).size, 8, 'all eight quotes come up');
  });
});
