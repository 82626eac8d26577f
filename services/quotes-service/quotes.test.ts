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
    assert.equal(burnCpu(3), burnCpu(3));
    const time = (strength: number) => {
      const started = performance.now();
      burnCpu(strength);
      return performance.now() - started;
    };
    time(20);
    assert.ok(time(200) > time(2), 'a hundred times the strength takes longer');
  });

  it('answers a quote in the original shape', () => {
    const quote = pickQuote('10.0.0.1');
    assert.deepEqual(Object.keys(quote).sort(), ['ipAddress', 'language', 'quote']);
    assert.equal(quote.ipAddress, '10.0.0.1');
    assert.equal(quote.language, 'en');
  });
});
