/**
 * Generated corpus for the propagation parsers: malformed values by category,
 * random mutations checked against regex oracles, precedence across formats,
 * and inject -> extract round trips. A seeded PRNG keeps every run identical.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { extract, inject, parseB3Multi, parseB3Single, parseTraceparent, parseTracestate } from './propagation.ts';
import type { Extracted, TraceContext } from './propagation.ts';

const SEED = 0x5eed1234;

/** mulberry32: small, fast, and good enough to spread test inputs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const hex = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[int(16)];
    return s;
  };
  /** Hex that is not all zeros and contains a letter, so case changes are visible. */
  const id = (n: number): string => {
    const s = hex(n - 1);
    const letter = pick(['a', 'b', 'c', 'd', 'e', 'f']);
    const at = int(n);
    return s.slice(0, at) + letter + s.slice(at);
  };
  return { next, int, pick, hex, id, bool: () => next() < 0.5 };
}
type Rng = ReturnType<typeof prng>;

function headers(values: Record<string, string>) {
  const map = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  return (name: string) => map.get(name);
}

const replaceAt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);
const insertAt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i);
const CONTROL = [...Array(32).keys()].filter((c) => c !== 0x09).map((c) => String.fromCharCode(c)).concat('\u007f');
const UNICODE = ['\u00e9', '\u00fc', '\u4e2d', '\u2028', '\ufeff', '\uff10', '\u0660', '\u{1f600}', '\u0130', '\u212a'];
/** Never valid in lowercase hex; upper case is added for W3C only. */
const NOT_HEX = ['g', 'x', 'z', '.', ',', '=', '+', '_', ' ', '/', ...CONTROL.slice(0, 4), ...UNICODE];
const OWS = ['', ' ', '\t', ' \t', '  '];

function traceparentOf(rng: Rng, version = '00'): string {
  return `${version}-${rng.id(32)}-${rng.id(16)}-${rng.hex(2)}`;
}

/** A future version: 2 lowercase hex, neither 00 nor ff. */
function futureVersion(rng: Rng): string {
  for (;;) {
    const v = rng.hex(2);
    if (v !== '00' && v !== 'ff') return v;
  }
}

function count(t: TestContext, n: number) {
  t.diagnostic(`${n} cases`);
}

describe('malformed traceparent is absent', () => {
  const rng = prng(SEED);
  const cases: Array<[string, string]> = [];
  const fields = (v: string) => v.split('-');
  for (const version of ['00', 'cc']) {
    // Wrong field lengths.
    for (const [index, normal] of [[0, 2], [1, 32], [2, 16], [3, 2]] as const) {
      for (let length = 0; length <= normal * 2 + 1; length++) {
        if (length === normal) continue;
        const parts = fields(traceparentOf(rng, version));
        parts[index] = index === 0 ? (version + rng.hex(length)).slice(0, length) : rng.id(Math.max(length, 1)).slice(0, length);
        cases.push(['field length', parts.join('-')]);
      }
    }
    for (let i = 0; i < 300; i++) {
      const v = traceparentOf(rng, version === '00' ? '00' : futureVersion(rng));
      const positions = [...Array(55).keys()].filter((p) => v[p] !== '-');
      // Non-hex, upper case, control and unicode characters inside a field.
      cases.push(['not hex', replaceAt(v, rng.pick(positions), rng.pick([...NOT_HEX, 'A', 'F', 'G']))]);
      const letter = rng.pick(positions.filter((p) => /[a-f]/.test(v[p] ?? '')));
      cases.push(['upper case', replaceAt(v, letter, (v[letter] ?? '').toUpperCase())]);
      cases.push(['control char', insertAt(v, rng.int(55), rng.pick(CONTROL))]);
      cases.push(['unicode', insertAt(v, rng.int(55), rng.pick(UNICODE))]);
      // Missing fields.
      const parts = fields(v);
      parts.splice(1 + rng.int(3), 1);
      cases.push(['missing field', parts.join('-')]);
      // Extra dash inside the version-00 fields (a higher version may add a dash after them).
      cases.push(['extra dash', insertAt(v, rng.int(55), '-')]);
    }
  }
  for (let i = 0; i < 300; i++) {
    const version = rng.pick(['00', futureVersion(rng)]);
    cases.push(['zero trace id', `${version}-${'0'.repeat(32)}-${rng.id(16)}-${rng.hex(2)}`]);
    cases.push(['zero parent id', `${version}-${rng.id(32)}-${'0'.repeat(16)}-${rng.hex(2)}`]);
    cases.push(['version ff', `ff-${rng.id(32)}-${rng.id(16)}-${rng.hex(2)}${rng.pick(['', '-', `-${rng.hex(8)}`])}`]);
    cases.push(['short future version', traceparentOf(rng, futureVersion(rng)).slice(0, rng.int(55))]);
    cases.push(['future version, no dash after flags', traceparentOf(rng, futureVersion(rng)) + rng.pick(['.', 'x', '0', '_', '\u00e9']) + rng.hex(rng.int(20))]);
    cases.push(['version 00, trailing data', `${traceparentOf(rng)}${rng.pick(['-', '.', 'x', ' x', '-00'])}${rng.hex(rng.int(10))}`]);
    cases.push(['huge future version', `${traceparentOf(rng, futureVersion(rng))}-${'a'.repeat(458 + rng.int(5000))}`]);
    cases.push(['huge whitespace', `${' '.repeat(300)}${traceparentOf(rng)}${' '.repeat(300)}`]);
  }
  for (let i = 0; i < 5; i++) cases.push(['megabyte', traceparentOf(rng) + 'x'.repeat(1 << 20)]);
  cases.push(['empty', ''], ['blank', ' \t ']);

  test('extract returns none and parseTraceparent undefined', (t) => {
    for (const [category, value] of cases) {
      const message = `${category}: ${JSON.stringify(value.slice(0, 120))}`;
      assert.equal(parseTraceparent(value), undefined, message);
      assert.deepEqual(extract(headers({ traceparent: value })), { kind: 'none' }, message);
    }
    count(t, cases.length);
  });
});

describe('malformed B3 is absent', () => {
  const rng = prng(SEED + 1);
  const trace = () => rng.id(rng.pick([16, 32]));
  const single = (sampling = rng.pick(['', '-0', '-1', '-d']), parent = rng.bool() ? `-${rng.id(16)}` : '') =>
    `${trace()}-${rng.id(16)}${sampling}${sampling === '' ? '' : parent}`;
  const badId = (normal: number, allow32 = false): string => {
    switch (rng.int(5)) {
      case 0: {
        // Not 0: an empty header is absent, which is no error.
        let length = 1 + rng.int(39);
        while (length === normal || (allow32 && length === 32)) length = 1 + rng.int(39);
        return rng.id(length);
      }
      case 1:
        return '0'.repeat(allow32 && rng.bool() ? 32 : normal);
      case 2:
        return replaceAt(rng.id(normal), rng.int(normal), rng.pick(NOT_HEX.filter((c) => c !== ' ')));
      case 3:
        return insertAt(rng.id(normal), 1 + rng.int(normal - 1), rng.pick([...CONTROL, ...UNICODE]));
      default:
        return `${rng.id(normal)}${rng.pick(UNICODE)}`;
    }
  };
  const badSampling = () => rng.pick(['2', 'D', 'x', '01', '11', 'true', 'false', 'yes', '\u0000', '\u00e9', '-', '1 1']);

  const singles: Array<[string, string]> = [];
  for (let i = 0; i < 400; i++) {
    const sampling = rng.pick(['', '-0', '-1', '-d']);
    singles.push(['bad trace id', `${badId(16, true)}-${rng.id(16)}${sampling}`]);
    singles.push(['bad span id', `${trace()}-${badId(16)}${sampling}`]);
    singles.push(['bad parent id', `${trace()}-${rng.id(16)}-${rng.pick(['0', '1', 'd'])}-${badId(16)}`]);
    singles.push(['bad sampling', `${trace()}-${rng.id(16)}-${badSampling()}${rng.bool() ? `-${rng.id(16)}` : ''}`]);
    singles.push(['bad sampling only', badSampling()]);
    const v = single();
    singles.push(['extra dash', insertAt(v, rng.pick([0, v.length, v.indexOf('-'), v.indexOf('-') + 1]), '-')]);
    singles.push(['extra field', `${single('-1', `-${rng.id(16)}`)}-${rng.pick(['1', '0', 'd', rng.id(16)])}`]);
    singles.push(['control char', insertAt(v, 1 + rng.int(v.length - 1), rng.pick(CONTROL))]);
    singles.push(['unicode', insertAt(v, rng.int(v.length + 1), rng.pick(UNICODE))]);
    singles.push(['huge', `${v}${' '.repeat(rng.int(2000))}${rng.pick(['', 'x'])}${' '.repeat(513)}`]);
  }

  test('b3 single: extract returns none', (t) => {
    for (const [category, value] of singles) {
      const message = `${category}: ${JSON.stringify(value.slice(0, 120))}`;
      assert.deepEqual(parseB3Single(value), { kind: 'none' }, message);
      assert.deepEqual(extract(headers({ b3: value })), { kind: 'none' }, message);
    }
    count(t, singles.length);
  });

  const multis: Array<[string, Record<string, string>]> = [];
  for (let i = 0; i < 400; i++) {
    const good = { 'x-b3-traceid': trace(), 'x-b3-spanid': rng.id(16), 'x-b3-parentspanid': rng.id(16), 'x-b3-sampled': rng.pick(['1', '0']) };
    multis.push(['bad trace id', { ...good, 'x-b3-traceid': badId(16, true) }]);
    multis.push(['bad span id', { ...good, 'x-b3-spanid': badId(16) }]);
    multis.push(['bad parent id', { ...good, 'x-b3-parentspanid': badId(16) }]);
    multis.push(['bad sampled', { ...good, 'x-b3-sampled': rng.pick(['2', 'd', 'yes', 'tru', '\u00e9', 'truee', '1 1']) }]);
    multis.push(['trace id without span id', { 'x-b3-traceid': good['x-b3-traceid'], 'x-b3-sampled': '1' }]);
    multis.push(['span id without trace id, no decision', { 'x-b3-spanid': good['x-b3-spanid'], 'x-b3-parentspanid': good['x-b3-parentspanid'] }]);
    multis.push(['huge', { ...good, 'x-b3-traceid': good['x-b3-traceid'] + ' '.repeat(600) }]);
  }

  test('b3 multi: unknown flags are ignored, the context kept', (t) => {
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const good = { 'x-b3-traceid': trace(), 'x-b3-spanid': rng.id(16), 'x-b3-sampled': rng.pick(['1', '0']) };
      const flags = rng.pick(['2', 'd', 'true', '01', '3', '\u0000', 'abc', '-1', '11']);
      const expected = parseB3Multi(headers(good));
      assert.equal(expected.kind, 'context');
      assert.deepEqual(extract(headers({ ...good, 'x-b3-flags': flags })), expected, `flags ${JSON.stringify(flags)}`);
      n++;
    }
    count(t, n);
  });

  test('b3 multi: ids without a trace id keep only the decision', (t) => {
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const [decision, expected] = rng.pick([
        [{ 'x-b3-sampled': '0' }, { kind: 'sampling', sampled: false, debug: false }],
        [{ 'x-b3-sampled': '1' }, { kind: 'sampling', sampled: true, debug: false }],
        [{ 'x-b3-flags': '1' }, { kind: 'sampling', sampled: true, debug: true }],
      ] as const);
      const ids = rng.pick<Record<string, string>>([
        { 'x-b3-spanid': rng.id(16) },
        { 'x-b3-parentspanid': rng.id(16) },
        { 'x-b3-spanid': badId(16), 'x-b3-parentspanid': rng.id(16) },
      ]);
      const values = { ...ids, ...decision };
      assert.deepEqual(extract(headers(values)), expected, JSON.stringify(values));
      n++;
    }
    count(t, n);
  });

  test('b3 multi: extract returns none', (t) => {
    for (const [category, values] of multis) {
      assert.deepEqual(extract(headers(values)), { kind: 'none' }, `${category}: ${JSON.stringify(values)}`);
    }
    count(t, multis.length);
  });

  test('sampling-only forms with padding and case', (t) => {
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const pad = (v: string) => rng.pick(OWS) + v + rng.pick(OWS);
      const [flag, expected] = rng.pick([
        ['0', { kind: 'sampling', sampled: false, debug: false }],
        ['1', { kind: 'sampling', sampled: true, debug: false }],
        ['d', { kind: 'sampling', sampled: true, debug: true }],
      ] as const);
      assert.deepEqual(extract(headers({ b3: pad(flag) })), expected);
      const sampled = rng.pick(['1', '0', 'true', 'false', 'TRUE', 'False']);
      const accept = sampled === '1' || sampled.toLowerCase() === 'true';
      assert.deepEqual(extract(headers({ 'x-b3-sampled': pad(sampled) })), { kind: 'sampling', sampled: accept, debug: false });
      assert.deepEqual(extract(headers({ 'x-b3-sampled': sampled, 'x-b3-flags': pad('1') })), { kind: 'sampling', sampled: true, debug: true });
      // An invalid higher-precedence header falls through to the decision.
      assert.deepEqual(extract(headers({ traceparent: traceparentOf(rng).toUpperCase(), b3: pad(flag) })), expected);
      n += 4;
    }
    count(t, n);
  });
});

describe('malformed tracestate is dropped', () => {
  const rng = prng(SEED + 2);
  const key = () => (rng.bool() ? `k${rng.hex(rng.int(8))}` : `${rng.hex(1 + rng.int(6))}@s${rng.hex(rng.int(4))}`);
  const value = () => `v${rng.hex(rng.int(12))}`;
  /** Distinct keys: the index follows the only `_` of each key. */
  const list = (n: number) => Array.from({ length: n }, (_, i) => `${key()}_${i}=${value()}`);
  const keyOf = (member: string) => member.slice(0, member.indexOf('='));
  const cases: Array<[string, string]> = [];
  for (let i = 0; i < 300; i++) {
    const members = list(1 + rng.int(5));
    const bad = (member: string) => {
      const copy = [...members];
      copy.splice(rng.int(copy.length + 1), 0, member);
      return copy.join(rng.pick([',', ', ', ' ,\t']));
    };
    // Level 2 keys: [0-9a-z][_0-9a-z\-*/@]{0,255}.
    cases.push(['key char', bad(`${rng.pick(['K', 'k.', 'k k', 'k\u00e9', 'k#', '~k', '_k', '-k', '*k', '/k', 'kK', 'k:', 'k\u0000'])}=${value()}`)]);
    cases.push(['at sign', bad(`${rng.pick(['@', '@s', '@@s', '@1', 'k@S', 'K@s', 'k@s.t', 'k@s\u00e9', 'k@ s'])}=${value()}`)]);
    cases.push(['key length', bad(`${'k'.repeat(257 + rng.int(20))}=${value()}`)]);
    const tenant = 1 + rng.int(255);
    cases.push(['multi-tenant key length', bad(`${'t'.repeat(tenant)}@${'s'.repeat(256 - tenant + rng.int(20))}=${value()}`)]);
    cases.push(['value', bad(`kk=${rng.pick(['', 'a=b', 'a\tb', 'a\u0000', '\u00e9', 'a\u007f', 'x'.repeat(257), 'a\nb'])}`)]);
    cases.push(['no equals', bad(rng.pick(['kk', 'kk:v', 'kk v']))]);
    // A repeated key is dropped, not an error, but its member is still checked.
    const repeated = `${keyOf(rng.pick(members))}=${rng.pick(['', 'a=b', 'a\tb', '\u00e9'])}`;
    cases.push(['invalid repeated member', [...members, repeated].join(rng.pick([',', ', ', ' ,\t']))]);
    cases.push(['too many members', list(33 + rng.int(10)).join(rng.pick([',', ', , ']))]);
    const many = list(33 + rng.int(10));
    for (let n = 1 + rng.int(5); n > 0; n--) many.splice(rng.int(many.length + 1), 0, `${keyOf(rng.pick(many))}=${value()}`);
    cases.push(['too many distinct members, some repeated', many.join(',')]);
    cases.push(['unicode', bad(`kk=${value()}${rng.pick(UNICODE)}`)]);
    cases.push(['huge', `${members.join(',')},${' '.repeat(8200)}`]);
  }

  test('a valid traceparent keeps its context, without tracestate', (t) => {
    for (const [category, tracestate] of cases) {
      const traceparent = traceparentOf(rng);
      const message = `${category}: ${JSON.stringify(tracestate.slice(0, 120))}`;
      assert.equal(parseTracestate(tracestate), undefined, message);
      assert.deepEqual(extract(headers({ traceparent, tracestate })), { kind: 'context', format: 'w3c', context: parseTraceparent(traceparent) }, message);
    }
    count(t, cases.length);
  });
});

describe('a repeated tracestate key keeps its first member', () => {
  const rng = prng(SEED + 5);
  const key = () =>
    rng.pick([
      () => `k${rng.hex(rng.int(4))}`,
      () => `${rng.hex(1 + rng.int(4))}@s${rng.hex(rng.int(3))}`,
      () => `${rng.hex(1)}${rng.pick(['', '@', '@@', '/', '*'])}${rng.pick(['a', 'b', '0', '@x'])}`,
    ])();
  const value = () => `v${rng.hex(rng.int(12))}`;
  const cases: Array<[string, string, string]> = [];
  for (let i = 0; i < 500; i++) {
    // Up to 16 members, at most 32 with their repeats; short enough that the 512 bound never applies.
    const first = new Map<string, string>();
    for (let n = 1 + rng.int(16); n > 0; n--) {
      const k = key();
      if (!first.has(k)) first.set(k, `${k}=${value()}`);
    }
    const members = [...first.values()];
    const all = [...members];
    for (let n = 1 + rng.int(members.length); n > 0; n--) {
      const original = rng.pick(members);
      const at = all.indexOf(original) + 1 + rng.int(all.length - all.indexOf(original));
      all.splice(at, 0, `${original.slice(0, original.indexOf('='))}=${rng.pick([value(), original.slice(original.indexOf('=') + 1)])}`);
    }
    // Joined as one line or as several header lines.
    const tracestate = all.map((m) => rng.pick(OWS) + m + rng.pick(OWS)).join(rng.pick([',', ', ', ',,', ' , ']));
    cases.push(['repeated', tracestate, members.join(',')]);
  }

  test('the later members are dropped, the rest stays in order', (t) => {
    for (const [category, tracestate, expected] of cases) {
      const message = `${category}: ${JSON.stringify(tracestate.slice(0, 120))}`;
      assert.equal(parseTracestate(tracestate), expected, message);
      const traceparent = traceparentOf(rng);
      const context = parseTraceparent(traceparent);
      assert.ok(context);
      assert.deepEqual(extract(headers({ traceparent, tracestate })), { kind: 'context', format: 'w3c', context: { ...context, tracestate: expected } }, message);
    }
    count(t, cases.length);
  });
});

describe('random mutations agree with regex oracles', () => {
  const rng = prng(SEED + 3);
  const alphabet = ['0', '1', '9', 'a', 'd', 'f', 'A', 'F', 'g', '-', ' ', '\t', ',', '=', '@', '_', '\u0000', '\n', '\u007f', '\u00e9', '\u{1f600}'];
  const mutate = (v: string): string => {
    let s = v;
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const i = rng.int(s.length + 1);
      switch (rng.int(5)) {
        case 0: s = replaceAt(s, i, rng.pick(alphabet)); break;
        case 1: s = insertAt(s, i, rng.pick(alphabet)); break;
        case 2: s = s.slice(0, i) + s.slice(i + 1); break;
        case 3: s = s.slice(0, i); break;
        default: s = s.replace(/[a-f]/, (c) => c.toUpperCase());
      }
    }
    return s;
  };
  const trim = (v: string) => v.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
  const zero = (v: string) => /^0+$/.test(v);

  const oracleTraceparent = (v: string): TraceContext | undefined => {
    const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\s\S]*)?$/.exec(trim(v));
    if (v.length > 512 || !m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
    const [, , traceId = '', spanId = '', flags = ''] = m;
    if (zero(traceId) || zero(spanId)) return undefined;
    const bits = Number.parseInt(flags, 16);
    return { traceId, spanId, sampled: (bits & 1) === 1, debug: false, ...((bits & 2) === 2 && { random: true }) };
  };

  const oracleB3Single = (v: string): Extracted => {
    const t = trim(v);
    if (v.length > 512) return { kind: 'none' };
    if (t === '0' || t === '1') return { kind: 'sampling', sampled: t === '1', debug: false };
    if (t === 'd') return { kind: 'sampling', sampled: true, debug: true };
    const m = /^([0-9a-fA-F]{32}|[0-9a-fA-F]{16})-([0-9a-fA-F]{16})(?:-([01d]))?(?:-([0-9a-fA-F]{16}))?$/.exec(t);
    if (!m) return { kind: 'none' };
    const [, traceId = '', spanId = '', sampling, parentId] = m;
    if (zero(traceId) || zero(spanId) || (parentId !== undefined && zero(parentId))) return { kind: 'none' };
    const context: TraceContext = { traceId: traceId.toLowerCase(), spanId: spanId.toLowerCase(), debug: sampling === 'd' };
    if (parentId !== undefined) context.parentId = parentId.toLowerCase();
    if (sampling !== undefined) context.sampled = sampling !== '0';
    return { kind: 'context', format: 'b3-single', context };
  };

  /** The key regex of the W3C test suite (Level 2). */
  const KEY = /^[0-9a-z][_0-9a-z\-*/@]{0,255}$/;
  const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
  /** Inputs stay short, so neither the 32-member nor the 512-character bound applies here. */
  const oracleTracestate = (v: string): string | undefined => {
    const members = v.split(',').map(trim).filter((m) => m !== '');
    const keys = members.map((m) => m.slice(0, m.indexOf('=')));
    const ok = members.every((m, i) => m.includes('=') && KEY.test(keys[i] ?? '') && VALUE.test(m.slice(m.indexOf('=') + 1)));
    // Of a repeated key, only the first member stays.
    const kept = members.filter((_, i) => keys.indexOf(keys[i] ?? '') === i);
    if (!ok || kept.length === 0 || kept.length > 32) return undefined;
    return kept.join(',');
  };

  test('traceparent', (t) => {
    let valid = 0;
    for (let i = 0; i < 4000; i++) {
      const v = mutate(traceparentOf(rng, rng.pick(['00', '00', futureVersion(rng)])) + rng.pick(['', '', '-', `-${rng.hex(4)}`, ' ']));
      const expected = oracleTraceparent(v);
      assert.deepEqual(parseTraceparent(v), expected, JSON.stringify(v));
      if (expected) valid++;
    }
    t.diagnostic(`4000 cases, ${valid} still valid`);
  });

  test('b3 single', (t) => {
    let valid = 0;
    for (let i = 0; i < 4000; i++) {
      const sampling = rng.pick(['', '-0', '-1', '-d', '-1', '-d']);
      const parent = rng.bool() ? `-${rng.id(16)}` : '';
      const base = rng.int(10) === 0 ? rng.pick(['0', '1', 'd']) : `${rng.id(rng.pick([16, 32]))}-${rng.id(16)}${sampling}${parent}`;
      const v = mutate(base);
      const expected = oracleB3Single(v);
      assert.deepEqual(parseB3Single(v), expected, JSON.stringify(v));
      if (expected.kind !== 'none') valid++;
    }
    t.diagnostic(`4000 cases, ${valid} still valid`);
  });

  test('tracestate', (t) => {
    let valid = 0;
    for (let i = 0; i < 4000; i++) {
      // Some keys without an index, so repeats occur before any mutation.
      const members = Array.from(
        { length: 1 + rng.int(4) },
        (_, n) => `${rng.pick(['k', 'a1', 't@s', '9t@v', '0', 'a@b@c', 'x/y@'])}${rng.pick([n, n, ''])}=${rng.pick(['v', ' v', 'a b', '!~'])}`,
      );
      const v = mutate(members.join(rng.pick([',', ', ', ' , ', ',,'])));
      const expected = oracleTracestate(v);
      assert.equal(parseTracestate(v), expected, JSON.stringify(v));
      if (expected !== undefined) valid++;
    }
    t.diagnostic(`4000 cases, ${valid} still valid`);
  });
});

describe('random contexts', () => {
  const rng = prng(SEED + 4);
  const randomContext = (): TraceContext => {
    const ctx: TraceContext = { traceId: rng.id(rng.pick([16, 32])), spanId: rng.id(16), debug: false };
    if (rng.bool()) ctx.parentId = rng.id(16);
    const decision = rng.int(4);
    if (decision === 3) ctx.debug = true;
    if (decision !== 0) ctx.sampled = decision !== 2;
    if (rng.int(3) === 0) {
      const n = 1 + rng.int(5);
      ctx.tracestate = Array.from({ length: n }, (_, i) => `${rng.pick(['k', 'ten@sys', '0t@s', '1a@b@c', 'x@'])}${i}=${rng.pick(['v', ' x', 'a b!', rng.hex(20)])}`).join(',');
    }
    return ctx;
  };

  test('inject -> extract round-trips exactly', (t) => {
    for (let i = 0; i < 3000; i++) {
      const ctx = randomContext();
      for (const b3 of ['multi', 'single'] as const) {
        const written: Record<string, string> = {};
        inject(ctx, (name, value) => (written[name] = value), { b3 });
        const format = b3 === 'multi' ? 'b3-multi' : 'b3-single';
        assert.deepEqual(extract(headers(written)), { kind: 'context', format, context: ctx }, `${b3}: ${JSON.stringify(ctx)}`);
        delete written['traceparent'];
        assert.deepEqual(extract(headers(written)), { kind: 'context', format, context: ctx }, `${b3} alone: ${JSON.stringify(ctx)}`);
      }
    }
    count(t, 3000 * 4);
  });

  test('precedence across formats', (t) => {
    const n = 3000;
    for (let i = 0; i < n; i++) {
      // Independent random ids, so the formats never describe the same span.
      const w3c = randomContext();
      const single = randomContext();
      const multi = randomContext();
      const values: Record<string, string> = {};
      const tp = rng.int(3); // 0 absent, 1 valid, 2 invalid
      if (tp > 0) {
        const valid = `00-${w3c.traceId.padStart(32, '0')}-${w3c.spanId}-${w3c.sampled ? '01' : '00'}`;
        values['traceparent'] = tp === 1 ? valid : replaceAt(valid, 3 + rng.int(32), rng.pick(['G', 'x', 'A']));
      }
      const b3 = rng.int(4); // 0 absent, 1 context, 2 sampling only, 3 invalid
      if (b3 === 1 || b3 === 3) inject(single, (name, value) => { if (name === 'b3') values[name] = b3 === 1 ? value : `${value}-`; }, { b3: 'single' });
      const decision = rng.pick([
        ['0', { kind: 'sampling', sampled: false, debug: false }],
        ['1', { kind: 'sampling', sampled: true, debug: false }],
        ['d', { kind: 'sampling', sampled: true, debug: true }],
      ] as const);
      if (b3 === 2) values['b3'] = decision[0];
      const hasMulti = rng.bool();
      if (hasMulti) inject(multi, (name, value) => { if (name.startsWith('x-b3-')) values[name] = value; });
      const tracestate = rng.bool() ? 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' : undefined;
      if (tracestate) values['tracestate'] = tracestate;

      const withState = (ctx: TraceContext): TraceContext => {
        const { tracestate: _, ...rest } = ctx;
        return tracestate === undefined ? rest : { ...rest, tracestate };
      };
      const stripped = (ctx: TraceContext): TraceContext => {
        const { tracestate: _, ...rest } = ctx;
        return rest;
      };
      let expected: Extracted;
      if (tp === 1) {
        const ctx: TraceContext = { traceId: w3c.traceId.padStart(32, '0'), spanId: w3c.spanId, sampled: w3c.sampled === true, debug: false };
        expected = { kind: 'context', format: 'w3c', context: withState(ctx) };
      } else if (b3 === 1) {
        expected = { kind: 'context', format: 'b3-single', context: tp === 0 ? withState(single) : stripped(single) };
      } else if (b3 === 2) {
        expected = decision[1];
      } else if (hasMulti) {
        expected = { kind: 'context', format: 'b3-multi', context: tp === 0 ? withState(multi) : stripped(multi) };
      } else {
        expected = { kind: 'none' };
      }
      assert.deepEqual(extract(headers(values)), expected, JSON.stringify(values));
    }
    count(t, n);
  });
});
