import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extract,
  formatB3Single,
  formatTraceparent,
  formatTraceresponse,
  inject,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  parseTracestate,
} from './propagation.ts';
import type { Extracted, HeaderGetter, TraceContext } from './propagation.ts';

const T128 = '80f198ee56343ba864fe8b2a57d3eff7';
const T64 = '463ac35c9f6413ad';
const SPAN = 'e457b5a2e4d86bd1';
const PARENT = '05e3ac9a4f6e3b90';
const W3C_T = '12345678901234567890123456789012';
const W3C_S = '1234567890123456';

/** A case-insensitive getter over a plain object, as the callers provide. */
function headers(values: Record<string, unknown>): HeaderGetter {
  const map = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  return (name) => map.get(name) as string | undefined;
}

/** Runs inject and returns the headers written, in order. */
function injected(ctx: TraceContext, options?: { b3?: 'multi' | 'single' }): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  inject(ctx, (name, value) => out.push([name, value]), options);
  return out;
}

function roundTrip(ctx: TraceContext, options?: { b3?: 'multi' | 'single' }, drop: string[] = []): Extracted {
  const written = injected(ctx, options).filter(([name]) => !drop.includes(name));
  return extract(headers(Object.fromEntries(written)));
}

function ctxOf(fields: Partial<TraceContext>): TraceContext {
  return { traceId: T128, spanId: SPAN, debug: false, ...fields };
}

describe('parseTraceparent', () => {
  const valid: Array<[string, string, Partial<TraceContext>]> = [
    ['sampled', `00-${W3C_T}-${W3C_S}-01`, { sampled: true }],
    ['not sampled', `00-${W3C_T}-${W3C_S}-00`, { sampled: false }],
    ['random flag, sampled', `00-${W3C_T}-${W3C_S}-03`, { sampled: true, random: true }],
    ['random flag, not sampled', `00-${W3C_T}-${W3C_S}-fe`, { sampled: false, random: true }],
    ['unknown flags masked', `00-${W3C_T}-${W3C_S}-f9`, { sampled: true }],
    ['leading space', ` 00-${W3C_T}-${W3C_S}-01`, { sampled: true }],
    ['leading tab', `\t00-${W3C_T}-${W3C_S}-01`, { sampled: true }],
    ['trailing OWS', `00-${W3C_T}-${W3C_S}-01 \t`, { sampled: true }],
    ['future version, 55 chars', `cc-${W3C_T}-${W3C_S}-01`, { sampled: true }],
    ['future version, extra fields', `cc-${W3C_T}-${W3C_S}-01-what-the-future-will-be-like`, { sampled: true }],
    ['future version, trailing dash', `01-${W3C_T}-${W3C_S}-00-`, { sampled: false }],
    ['future version, odd suffix', `fe-${W3C_T}-${W3C_S}-01-\u00e9\u0000`, { sampled: true }],
  ];
  for (const [name, value, expected] of valid) {
    test(`valid: ${name}`, () => {
      assert.deepEqual(parseTraceparent(value), { traceId: W3C_T, spanId: W3C_S, debug: false, ...expected });
    });
  }

  test('a 64-bit id padded with zeros stays 32 hex', () => {
    assert.equal(parseTraceparent(`00-0000000000000000${T64}-${SPAN}-01`)?.traceId, `0000000000000000${T64}`);
  });

  // Mostly the cases of the W3C test suite (test/test.py).
  const invalid: Array<[string, string]> = [
    ['version 00 with trailing char', `00-${W3C_T}-${W3C_S}-01.`],
    ['version 00 with extra fields', `00-${W3C_T}-${W3C_S}-01-what-the-future-will-be-like`],
    ['future version, no dash after flags', `cc-${W3C_T}-${W3C_S}-01.what-the-future-will-be-like`],
    ['future version shorter than 55', `cc-${W3C_T}-${W3C_S}-1`],
    ['version ff', `ff-${W3C_T}-${W3C_S}-01`],
    ['version .0', `.0-${W3C_T}-${W3C_S}-01`],
    ['version 0.', `0.-${W3C_T}-${W3C_S}-01`],
    ['version 000', `000-${W3C_T}-${W3C_S}-01`],
    ['version 0000', `0000-${W3C_T}-${W3C_S}-01`],
    ['version 0', `0-${W3C_T}-${W3C_S}-01`],
    ['version upper case', `CC-${W3C_T}-${W3C_S}-01`],
    ['trace id all zero', `00-${'0'.repeat(32)}-${W3C_S}-01`],
    ['trace id leading dot', `00-.${W3C_T.slice(1)}-${W3C_S}-01`],
    ['trace id trailing dot', `00-${W3C_T.slice(0, -1)}.-${W3C_S}-01`],
    ['trace id 33 hex', `00-${W3C_T}3-${W3C_S}-01`],
    ['trace id 31 hex', `00-${W3C_T.slice(1)}-${W3C_S}-01`],
    ['trace id 16 hex', `00-${T64}-${W3C_S}-01`],
    ['trace id upper case', `00-${T128.toUpperCase()}-${W3C_S}-01`],
    ['parent id all zero', `00-${W3C_T}-${'0'.repeat(16)}-01`],
    ['parent id leading dot', `00-${W3C_T}-.${W3C_S.slice(1)}-01`],
    ['parent id trailing dot', `00-${W3C_T}-${W3C_S.slice(0, -1)}.-01`],
    ['parent id 17 hex', `00-${W3C_T}-${W3C_S}7-01`],
    ['parent id 15 hex', `00-${W3C_T}-${W3C_S.slice(1)}-01`],
    ['parent id upper case', `00-${W3C_T}-${SPAN.toUpperCase()}-01`],
    ['flags .0', `00-${W3C_T}-${W3C_S}-.0`],
    ['flags 0.', `00-${W3C_T}-${W3C_S}-0.`],
    ['flags 001', `00-${W3C_T}-${W3C_S}-001`],
    ['flags 1', `00-${W3C_T}-${W3C_S}-1`],
    ['flags upper case', `00-${W3C_T}-${W3C_S}-0A`],
    ['double dash', `00--${W3C_T}-${W3C_S}-01`],
    ['leading dash', `-00-${W3C_T}-${W3C_S}-01`],
    ['empty', ''],
    ['whitespace only', ' \t '],
    ['newline around', `\n00-${W3C_T}-${W3C_S}-01\n`],
    ['two values combined', `00-${W3C_T}-${W3C_S}-01, 00-${W3C_T}-${W3C_S}-01`],
    ['oversized future version', `cc-${W3C_T}-${W3C_S}-01-${'x'.repeat(460)}`],
  ];
  for (const [name, value] of invalid) {
    test(`invalid: ${name}`, () => assert.equal(parseTraceparent(value), undefined));
  }

  test('null and undefined', () => {
    assert.equal(parseTraceparent(null), undefined);
    assert.equal(parseTraceparent(undefined), undefined);
  });
});

describe('parseTracestate', () => {
  const lcalpha = 'abcdefghijklmnopqrstuvwxyz';
  /** Level 2 keychar; the first character of a key is only a lowercase letter or a digit. */
  const keyChars = `${lcalpha}0123456789_-*/@`;
  let allValueChars = '';
  for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) allValueChars += String.fromCharCode(c);
  const bars = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `bar${String(from + i).padStart(2, '0')}=${from + i}`).join(',');

  const valid: Array<[string, string, string]> = [
    ['one member', 'congo=t61rcWkgMzE', 'congo=t61rcWkgMzE'],
    ['two members', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'],
    ['OWS around members', 'foo=1 \t , \t bar=2, \t baz=3', 'foo=1,bar=2,baz=3'],
    ['tabs around commas', 'foo=1\t \t,\t \tbar=2,\t \tbaz=3', 'foo=1,bar=2,baz=3'],
    ['leading space', ' foo=1', 'foo=1'],
    ['leading tab', '\tfoo=1', 'foo=1'],
    ['trailing space', 'foo=1 ', 'foo=1'],
    ['trailing tab', 'foo=1\t', 'foo=1'],
    ['empty members dropped', 'foo=1,,  ,\t,bar=2,', 'foo=1,bar=2'],
    ['header lines combined, first empty', ', foo=1', 'foo=1'],
    ['header lines combined, order kept', 'foo=1,bar=2, rojo=1,congo=2, baz=3', 'foo=1,bar=2,rojo=1,congo=2,baz=3'],
    ['leading spaces of a value kept', 'foo=  bar', 'foo=  bar'],
    ['inner spaces of a value kept', 'foo=a b', 'foo=a b'],
    ['all key and value characters', `${keyChars}=${allValueChars}`, `${keyChars}=${allValueChars}`],
    ['all key characters after a digit', `0${keyChars}=1`, `0${keyChars}=1`],
    ['multi-tenant key', `${keyChars}@a-z0-9_-*/=${allValueChars}`, `${keyChars}@a-z0-9_-*/=${allValueChars}`],
    ['tenant id starting with a digit', '1tenant@system=v', '1tenant@system=v'],
    // Level 2 keys: a lowercase letter or digit, then any keychar including `@`, 256 at most.
    ['simple key starting with a digit', '1foo=bar', '1foo=bar'],
    ['one-digit key', '7=x', '7=x'],
    ['empty system id', 'foo@=1,bar=2', 'foo@=1,bar=2'],
    ['two at signs', 'foo@@bar=1,bar=2', 'foo@@bar=1,bar=2'],
    ['two at signs apart', 'foo@bar@baz=1,bar=2', 'foo@bar@baz=1,bar=2'],
    ['system id starting with a digit', 'foo@1bar=1', 'foo@1bar=1'],
    ['system id starting with a keychar', 'foo@_bar=1,baz@-*/=2', 'foo@_bar=1,baz@-*/=2'],
    ['256-char value', `foo=${'v'.repeat(256)}`, `foo=${'v'.repeat(256)}`],
    ['256-char key', `${'z'.repeat(256)}=1,foo=1`, `${'z'.repeat(256)}=1,foo=1`],
    ['241-char tenant, 14-char system', `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`, `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`],
    ['242-char tenant', `foo=1,${'t'.repeat(242)}@v=1`, `foo=1,${'t'.repeat(242)}@v=1`],
    ['15-char system', `foo=1,t@${'v'.repeat(15)}=1`, `foo=1,t@${'v'.repeat(15)}=1`],
    ['256-char multi-tenant key, 254-char system', `t@${'v'.repeat(254)}=1`, `t@${'v'.repeat(254)}=1`],
    // A repeated key keeps its first member; the later ones are dropped, the rest stays in order.
    ['duplicate key, same value', 'foo=1,foo=1', 'foo=1'],
    ['duplicate key, other value', 'foo=1,foo=2', 'foo=1'],
    ['duplicate key across lines', 'foo=1, foo=2', 'foo=1'],
    ['duplicate key, first member kept in place', 'foo=1,bar=2,foo=3,baz=4,bar=5', 'foo=1,bar=2,baz=4'],
    ['duplicate multi-tenant key', 't@s=1, u@s=2,\tt@s=3', 't@s=1,u@s=2'],
    ['keys compared exactly', 'foo=1,foo@=2,foo@bar=3,foo-=4', 'foo=1,foo@=2,foo@bar=3,foo-=4'],
    ['repeated members among distinct ones', `${bars(1, 10)},bar03=x,${bars(11, 20)},bar01=y`, bars(1, 20)],
    ['32 members', bars(1, 32), bars(1, 32)],
    ['32 members and empty ones', `,${bars(1, 16)},,${bars(17, 32)},`, bars(1, 32)],
  ];
  for (const [name, value, expected] of valid) {
    test(`valid: ${name}`, () => assert.equal(parseTracestate(value), expected));
  }

  const invalid: Array<[string, string]> = [
    ['empty', ''],
    ['only commas and OWS', ' , \t,'],
    ['no equals sign', 'foo'],
    ['empty value', 'foo=,bar=3'],
    ['equals sign in value', 'foo=bar=baz'],
    ['empty key', '=1'],
    ['space before equals', 'foo =1'],
    ['upper-case key', 'FOO=1'],
    ['upper-case first char', 'Foo=1'],
    ['dot in key', 'foo.bar=1'],
    ['key starting with an underscore', '_foo=1'],
    ['key starting with a dash', '-foo=1'],
    ['key starting with a star', '*foo=1'],
    ['key starting with a slash', '/foo=1'],
    ['empty tenant id', '@foo=1,bar=2'],
    ['only an at sign', '@=1'],
    ['upper-case system id', 'foo@Bar=1'],
    ['dot in system id', 'foo@bar.baz=1'],
    ['257-char key', `foo=1,${'z'.repeat(257)}=1`],
    ['257-char multi-tenant key', `foo=1,${'t'.repeat(241)}@${'v'.repeat(15)}=1`],
    ['257-char value', `foo=${'v'.repeat(257)}`],
    ['tab inside value', 'foo=a\tb'],
    ['control char in value', 'foo=a\u0001b'],
    ['DEL in value', 'foo=a\u007fb'],
    ['non-ASCII value', 'foo=caf\u00e9'],
    ['non-ASCII key', 'f\u00f6o=1'],
    ['repeated key with an invalid value', 'foo=1,foo=a=b'],
    ['repeated key with an empty value', 'foo=1,bar=2,foo='],
    ['33 members', bars(1, 33)],
    ['33 distinct members, repeated ones among them', `${bars(1, 16)},bar01=x,${bars(17, 33)},bar02=y`],
    ['one invalid member among valid ones', 'foo=1,BAR=2,baz=3'],
    ['newline between members', 'foo=1,\nbar=2'],
    ['oversized raw value', `foo=1,${' '.repeat(8200)}`],
  ];
  for (const [name, value] of invalid) {
    test(`invalid: ${name}`, () => assert.equal(parseTracestate(value), undefined));
  }

  describe('bounded to 512 characters', () => {
    const member = (key: string, length: number) => `${key}=${'v'.repeat(length - key.length - 1)}`;

    test('512 characters pass unchanged', () => {
      const value = [member('a', 256), member('b', 255)].join(',');
      assert.equal(value.length, 512);
      assert.equal(parseTracestate(value), value);
    });

    test('members over 128 characters go first, largest first', () => {
      const small = Array.from({ length: 10 }, (_, i) => member(`s${i}`, 20));
      const big = member('big', 250);
      const bigger = member('bigger', 260);
      const mid = member('mid', 129);
      const value = [bigger, ...small.slice(0, 5), big, mid, ...small.slice(5)].join(',');
      // Dropping `bigger` still leaves 590 characters; dropping `big` too fits.
      assert.equal(parseTracestate(value), [...small.slice(0, 5), mid, ...small.slice(5)].join(','));
    });

    test('then members from the end', () => {
      const small = Array.from({ length: 32 }, (_, i) => member(`k${String(i).padStart(2, '0')}`, 20));
      const result = parseTracestate(small.join(','));
      assert.equal(result, small.slice(0, 24).join(','));
      assert.ok((result ?? '').length <= 512);
    });

    test('the largest goes first, whatever its place', () => {
      const small = Array.from({ length: 16 }, (_, i) => member(`s${String(i).padStart(2, '0')}`, 20));
      const mid = member('mid', 129);
      const big = member('big', 250);
      // Dropping `big` alone fits; dropping `mid`, which comes first, would not.
      const value = [mid, ...small.slice(0, 8), big, ...small.slice(8)].join(',');
      assert.equal(parseTracestate(value), [mid, ...small].join(','));
    });

    test('a member of exactly 128 characters is not a large one', () => {
      const small = Array.from({ length: 20 }, (_, i) => member(`s${String(i).padStart(2, '0')}`, 20));
      const edge = member('edge', 128);
      // Without `big` still too long: then members go from the end, and `edge` stays.
      assert.equal(parseTracestate([edge, member('big', 250), ...small].join(',')), [edge, ...small.slice(0, 18)].join(','));
    });

    test('stops dropping once the list is exactly 512 characters long', () => {
      const fill = (n: number) => Array.from({ length: n }, (_, i) => member(`f${String(i).padStart(2, '0')}`, 20));
      // 20 members of 20 and one of 92: 512 characters with their commas.
      const exact = [...fill(20), member('last', 92)];
      assert.equal(exact.join(',').length, 512);
      assert.equal(parseTracestate([...exact, member('more', 20)].join(',')), exact.join(','), 'from the end');
      const withLarge = [member('mid', 129), ...fill(18), member('l', 4)];
      assert.equal(withLarge.join(',').length, 512);
      assert.equal(parseTracestate([member('big', 250), ...withLarge].join(',')), withLarge.join(','), 'large ones');
    });

    test('a single 513-character member is dropped entirely', () => {
      assert.equal(parseTracestate(`${'k'.repeat(256)}=${'v'.repeat(256)}`), undefined);
    });
  });
});

describe('parseB3Single', () => {
  const context = (fields: Partial<TraceContext>, traceId = T128): Extracted => ({
    kind: 'context',
    format: 'b3-single',
    context: { traceId, spanId: SPAN, debug: false, ...fields },
  });
  const valid: Array<[string, string, Extracted]> = [
    ['128-bit, deferred', `${T128}-${SPAN}`, context({})],
    ['64-bit, deferred', `${T64}-${SPAN}`, context({}, T64)],
    ['sampled', `${T128}-${SPAN}-1`, context({ sampled: true })],
    ['not sampled', `${T64}-${SPAN}-0`, context({ sampled: false }, T64)],
    ['debug', `${T128}-${SPAN}-d`, context({ sampled: true, debug: true })],
    ['sampled with parent', `${T128}-${SPAN}-1-${PARENT}`, context({ sampled: true, parentId: PARENT })],
    ['not sampled with parent', `${T64}-${SPAN}-0-${PARENT}`, context({ sampled: false, parentId: PARENT }, T64)],
    ['debug with parent', `${T128}-${SPAN}-d-${PARENT}`, context({ sampled: true, debug: true, parentId: PARENT })],
    ['deferred with parent (Brave)', `${T128}-${SPAN}-${PARENT}`, context({ parentId: PARENT })],
    ['upper case lowercased', `${T128.toUpperCase()}-${SPAN.toUpperCase()}-1-${PARENT.toUpperCase()}`, context({ sampled: true, parentId: PARENT })],
    ['mixed case lowercased', `${T64.toUpperCase()}-${SPAN}`, context({}, T64)],
    ['OWS trimmed', ` \t${T128}-${SPAN}-1 `, context({ sampled: true })],
    ['sampling only: accept', '1', { kind: 'sampling', sampled: true, debug: false }],
    ['sampling only: deny', '0', { kind: 'sampling', sampled: false, debug: false }],
    ['sampling only: debug', 'd', { kind: 'sampling', sampled: true, debug: true }],
    ['sampling only with OWS', ' 0\t', { kind: 'sampling', sampled: false, debug: false }],
    // Zipkin's model drops a parent id equal to the span's own: a span is not its own parent.
    ['parent id equal to the span id left out', `${T128}-${SPAN}-1-${SPAN}`, context({ sampled: true })],
    ['deferred, parent id equal to the span id left out', `${T128}-${SPAN}-${SPAN}`, context({})],
  ];
  for (const [name, value, expected] of valid) {
    test(`valid: ${name}`, () => assert.deepEqual(parseB3Single(value), expected));
  }

  const invalid: Array<[string, string]> = [
    ['empty', ''],
    ['upper-case debug', 'D'],
    ['unknown sampling only', '2'],
    ['legacy true', 'true'],
    ['old debug field', '1-1'],
    ['trace id only', T128],
    ['unknown sampling', `${T128}-${SPAN}-2`],
    ['upper-case debug field', `${T128}-${SPAN}-D`],
    ['sampling true', `${T128}-${SPAN}-true`],
    ['five fields', `${T128}-${SPAN}-1-${PARENT}-1`],
    ['old debug field after parent', `${T128}-${SPAN}-1-${PARENT}-1`],
    ['parent then sampling', `${T128}-${SPAN}-${PARENT}-1`],
    ['trailing dash', `${T128}-${SPAN}-`],
    ['trailing dash after sampling', `${T128}-${SPAN}-1-`],
    ['leading dash', `-${T128}-${SPAN}`],
    ['double dash', `${T128}--${SPAN}`],
    ['all-zero trace id', `${'0'.repeat(32)}-${SPAN}-1`],
    ['all-zero 64-bit trace id', `${'0'.repeat(16)}-${SPAN}-1`],
    ['all-zero span id', `${T128}-${'0'.repeat(16)}-1`],
    ['all-zero parent id', `${T128}-${SPAN}-1-${'0'.repeat(16)}`],
    ['trace id 31 hex', `${T128.slice(1)}-${SPAN}`],
    ['trace id 24 hex', `${T128.slice(8)}-${SPAN}`],
    ['span id 15 hex', `${T128}-${SPAN.slice(1)}`],
    ['span id 32 hex', `${T128}-${T128}`],
    ['parent id 15 hex', `${T128}-${SPAN}-1-${PARENT.slice(1)}`],
    ['non-hex trace id', `${T128.slice(1)}g-${SPAN}`],
    ['non-hex span id', `${T128}-${SPAN.slice(1)}x`],
    ['space inside', `${T128}- ${SPAN.slice(1)}`],
    ['oversized', `${T128}-${SPAN}-1-${PARENT}${' '.repeat(500)}x`],
  ];
  for (const [name, value] of invalid) {
    test(`invalid: ${name}`, () => assert.deepEqual(parseB3Single(value), { kind: 'none' }));
  }
});

describe('parseB3Multi', () => {
  const ids = { 'x-b3-traceid': T128, 'x-b3-spanid': SPAN };
  const context = (fields: Partial<TraceContext>, traceId = T128): Extracted => ({
    kind: 'context',
    format: 'b3-multi',
    context: { traceId, spanId: SPAN, debug: false, ...fields },
  });
  const valid: Array<[string, Record<string, string>, Extracted]> = [
    ['128-bit, deferred', ids, context({})],
    ['64-bit, deferred', { 'x-b3-traceid': T64, 'x-b3-spanid': SPAN }, context({}, T64)],
    ['with parent', { ...ids, 'x-b3-parentspanid': PARENT }, context({ parentId: PARENT })],
    ['sampled 1', { ...ids, 'x-b3-sampled': '1' }, context({ sampled: true })],
    ['sampled 0', { ...ids, 'x-b3-sampled': '0' }, context({ sampled: false })],
    ['legacy true', { ...ids, 'x-b3-sampled': 'true' }, context({ sampled: true })],
    ['legacy false', { ...ids, 'x-b3-sampled': 'false' }, context({ sampled: false })],
    ['legacy TRUE', { ...ids, 'x-b3-sampled': 'TRUE' }, context({ sampled: true })],
    ['debug', { ...ids, 'x-b3-flags': '1' }, context({ sampled: true, debug: true })],
    ['debug overrides deny', { ...ids, 'x-b3-flags': '1', 'x-b3-sampled': '0' }, context({ sampled: true, debug: true })],
    ['flags 0', { ...ids, 'x-b3-flags': '0', 'x-b3-sampled': '1' }, context({ sampled: true })],
    // B3: only `1` means debug; a receiver ignores flags it does not know, keeping the caller's context.
    ['unknown flags 2 ignored', { ...ids, 'x-b3-flags': '2', 'x-b3-sampled': '1' }, context({ sampled: true })],
    ['unknown flags abc ignored', { ...ids, 'x-b3-flags': 'abc' }, context({})],
    ['unknown flags 01 ignored, not debug', { ...ids, 'x-b3-flags': '01', 'x-b3-sampled': '0' }, context({ sampled: false })],
    ['sampling only: unknown flags are no decision', { 'x-b3-flags': '2' }, { kind: 'none' }],
    [
      'upper case lowercased',
      { 'x-b3-traceid': T128.toUpperCase(), 'x-b3-spanid': SPAN.toUpperCase(), 'x-b3-parentspanid': PARENT.toUpperCase() },
      context({ parentId: PARENT }),
    ],
    ['OWS trimmed', { 'x-b3-traceid': ` ${T128}`, 'x-b3-spanid': `${SPAN}\t`, 'x-b3-sampled': ' 1 ' }, context({ sampled: true })],
    ['sampling only: accept', { 'x-b3-sampled': '1' }, { kind: 'sampling', sampled: true, debug: false }],
    ['sampling only: deny', { 'x-b3-sampled': '0' }, { kind: 'sampling', sampled: false, debug: false }],
    ['sampling only: legacy false', { 'x-b3-sampled': 'false' }, { kind: 'sampling', sampled: false, debug: false }],
    ['sampling only: debug', { 'x-b3-flags': '1' }, { kind: 'sampling', sampled: true, debug: true }],
    ['sampling only: flags 0 is no decision', { 'x-b3-flags': '0' }, { kind: 'none' }],
    ['empty headers are absent', { 'x-b3-traceid': '', 'x-b3-spanid': ' ', 'x-b3-sampled': '1' }, { kind: 'sampling', sampled: true, debug: false }],
    // Without a trace id, the decision alone (as Brave reads B3).
    ['span id without trace id: the decision alone', { 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' }, { kind: 'sampling', sampled: false, debug: false }],
    ['parent id alone: the decision alone', { 'x-b3-parentspanid': PARENT, 'x-b3-sampled': '1' }, { kind: 'sampling', sampled: true, debug: false }],
    ['ids without trace id, debug: the decision alone', { 'x-b3-spanid': SPAN, 'x-b3-parentspanid': PARENT, 'x-b3-flags': '1' }, { kind: 'sampling', sampled: true, debug: true }],
    ['parent id equal to the span id left out', { ...ids, 'x-b3-parentspanid': SPAN, 'x-b3-sampled': '1' }, context({ sampled: true })],
  ];
  for (const [name, values, expected] of valid) {
    test(`valid: ${name}`, () => assert.deepEqual(parseB3Multi(headers(values)), expected));
  }

  const invalid: Array<[string, Record<string, string>]> = [
    ['trace id without span id', { 'x-b3-traceid': T128, 'x-b3-sampled': '1' }],
    ['span id without trace id, no decision', { 'x-b3-spanid': SPAN }],
    ['unknown sampled value', { ...ids, 'x-b3-sampled': 'yes' }],
    ['sampled d', { ...ids, 'x-b3-sampled': 'd' }],
    ['unknown sampled value alone', { 'x-b3-sampled': '2' }],
    ['all-zero trace id', { ...ids, 'x-b3-traceid': '0'.repeat(32) }],
    ['all-zero span id', { ...ids, 'x-b3-spanid': '0'.repeat(16) }],
    ['all-zero parent id', { ...ids, 'x-b3-parentspanid': '0'.repeat(16) }],
    ['trace id 20 hex', { ...ids, 'x-b3-traceid': T128.slice(12) }],
    ['span id 32 hex', { ...ids, 'x-b3-spanid': T128 }],
    ['non-hex parent id', { ...ids, 'x-b3-parentspanid': `${PARENT.slice(1)}z` }],
    ['oversized trace id', { ...ids, 'x-b3-traceid': `${T128}${' '.repeat(500)}` }],
  ];
  for (const [name, values] of invalid) {
    test(`invalid: ${name}`, () => assert.deepEqual(parseB3Multi(headers(values)), { kind: 'none' }));
  }
});

describe('extract', () => {
  const traceparent = `00-${W3C_T}-${W3C_S}-01`;
  const b3 = `${T128}-${SPAN}-1-${PARENT}`;
  const multi = { 'x-b3-traceid': T64, 'x-b3-spanid': PARENT, 'x-b3-sampled': '0' };
  const w3cContext = { traceId: W3C_T, spanId: W3C_S, sampled: true, debug: false };
  const singleContext = { traceId: T128, spanId: SPAN, parentId: PARENT, sampled: true, debug: false };
  const multiContext = { traceId: T64, spanId: PARENT, sampled: false, debug: false };
  const badTraceparent = `00-${W3C_T}-${W3C_S}-0x`;

  const cases: Array<[string, Record<string, unknown>, Extracted]> = [
    ['nothing', {}, { kind: 'none' }],
    ['traceparent wins over both B3 forms', { traceparent, b3, ...multi }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['b3 single wins over multi', { b3, ...multi }, { kind: 'context', format: 'b3-single', context: singleContext }],
    ['invalid traceparent falls through to b3', { traceparent: badTraceparent, b3, ...multi }, { kind: 'context', format: 'b3-single', context: singleContext }],
    ['invalid traceparent and b3 fall through to multi', { traceparent: badTraceparent, b3: `${b3}-`, ...multi }, { kind: 'context', format: 'b3-multi', context: multiContext }],
    ['oversized traceparent is absent', { traceparent: `${traceparent}${' '.repeat(600)}`, ...multi }, { kind: 'context', format: 'b3-multi', context: multiContext }],
    ['b3 sampling only wins over multi ids', { b3: '0', 'x-b3-traceid': T64, 'x-b3-spanid': SPAN }, { kind: 'sampling', sampled: false, debug: false }],
    ['traceparent wins over b3 sampling only', { traceparent, b3: 'd' }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['invalid traceparent falls through to sampling only', { traceparent: badTraceparent, 'x-b3-flags': '1' }, { kind: 'sampling', sampled: true, debug: true }],
    ['everything invalid', { traceparent: badTraceparent, b3: 'x', 'x-b3-traceid': T64 }, { kind: 'none' }],
    ['header names in any case (caller lowercases)', { TraceParent: traceparent }, { kind: 'context', format: 'w3c', context: w3cContext }],
    // tracestate
    ['tracestate with traceparent', { traceparent, tracestate: 'foo=1, bar=2' }, { kind: 'context', format: 'w3c', context: { ...w3cContext, tracestate: 'foo=1,bar=2' } }],
    ['invalid tracestate dropped', { traceparent, tracestate: 'foo=1,Foo=2' }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['tracestate value holding "=" dropped', { traceparent, tracestate: 'foo=1,bar=a=b' }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['tracestate value holding a control character dropped', { traceparent, tracestate: 'foo=1,bar=a\u0001b' }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['tracestate value past printable ASCII dropped', { traceparent, tracestate: 'foo=1,bar=caf\u00e9' }, { kind: 'context', format: 'w3c', context: w3cContext }],
    ['repeated tracestate key keeps the first', { traceparent, tracestate: 'foo=1,bar=2,foo=3' }, { kind: 'context', format: 'w3c', context: { ...w3cContext, tracestate: 'foo=1,bar=2' } }],
    ['Level 2 tracestate keys', { traceparent, tracestate: '1abc=x,foo@bar@baz=1' }, { kind: 'context', format: 'w3c', context: { ...w3cContext, tracestate: '1abc=x,foo@bar@baz=1' } }],
    ['tracestate alone', { tracestate: 'foo=1' }, { kind: 'none' }],
    ['tracestate with B3 and no traceparent', { b3, tracestate: 'foo=1' }, { kind: 'context', format: 'b3-single', context: { ...singleContext, tracestate: 'foo=1' } }],
    ['tracestate with B3 multi and no traceparent', { ...multi, tracestate: 'foo=1' }, { kind: 'context', format: 'b3-multi', context: { ...multiContext, tracestate: 'foo=1' } }],
    ['tracestate of an invalid traceparent is not read', { traceparent: badTraceparent, b3, tracestate: 'foo=1' }, { kind: 'context', format: 'b3-single', context: singleContext }],
    ['no tracestate on a sampling decision', { b3: '1', tracestate: 'foo=1' }, { kind: 'sampling', sampled: true, debug: false }],
  ];
  for (const [name, values, expected] of cases) {
    test(name, () => assert.deepEqual(extract(headers(values)), expected));
  }

  describe('a traceparent describing the same span as B3 keeps the B3 fields and format', () => {
    const same = (flags: string, traceId = T128) => `00-${traceId.padStart(32, '0')}-${SPAN}-${flags}`;
    const merged: Array<[string, Record<string, string>, TraceContext]> = [
      ['parent and accept', { traceparent: same('01'), b3 }, singleContext],
      ['debug', { traceparent: same('01'), 'x-b3-traceid': T128, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' }, { traceId: T128, spanId: SPAN, sampled: true, debug: true }],
      ['deferred decision', { traceparent: same('00'), b3: `${T128}-${SPAN}` }, { traceId: T128, spanId: SPAN, debug: false }],
      ['64-bit trace id', { traceparent: same('00', T64), b3: `${T64}-${SPAN}-0-${PARENT}` }, { traceId: T64, spanId: SPAN, parentId: PARENT, sampled: false, debug: false }],
      ['with tracestate', { traceparent: same('01'), b3, tracestate: 'a=b' }, { ...singleContext, tracestate: 'a=b' }],
    ];
    for (const [name, values, context] of merged) {
      const format = 'b3' in values ? 'b3-single' : 'b3-multi';
      test(name, () => assert.deepEqual(extract(headers(values)), { kind: 'context', format, context }));
    }

    const notMerged: Array<[string, Record<string, string>]> = [
      ['other span', { traceparent: same('01'), b3: `${T128}-${PARENT}-1` }],
      ['other trace', { traceparent: `00-${W3C_T}-${SPAN}-01`, b3: `${T128}-${SPAN}-1` }],
      ['traceparent sampled, B3 denies', { traceparent: same('01'), b3: `${T128}-${SPAN}-0-${PARENT}` }],
      ['traceparent sampled, B3 defers', { traceparent: same('01'), b3: `${T128}-${SPAN}-${PARENT}` }],
      ['traceparent not sampled, B3 debug', { traceparent: same('00'), b3: `${T128}-${SPAN}-d-${PARENT}` }],
    ];
    for (const [name, values] of notMerged) {
      test(`not when: ${name}`, () => {
        const result = extract(headers(values));
        assert.equal(result.kind === 'context' && result.format, 'w3c');
        assert.deepEqual(result.kind === 'context' && result.context, parseTraceparent(values.traceparent));
      });
    }
  });

  describe('odd getters never throw', () => {
    const odd: Array<[string, HeaderGetter, Extracted]> = [
      ['getter throws', () => { throw new Error('boom'); }, { kind: 'none' }],
      ['getter returns numbers', () => 1 as unknown as string, { kind: 'none' }],
      ['getter returns objects', () => ({ toString: () => traceparent }) as unknown as string, { kind: 'none' }],
      ['getter returns arrays of non-strings', () => [1, 2] as unknown as string, { kind: 'none' }],
      ['not a function', null as unknown as HeaderGetter, { kind: 'none' }],
      [
        'duplicated traceparent lines are invalid',
        headers({ traceparent: [traceparent, traceparent] }),
        { kind: 'none' },
      ],
      [
        'tracestate lines are joined',
        headers({ traceparent, tracestate: ['foo=1,bar=2', '', 'baz=3'] }),
        { kind: 'context', format: 'w3c', context: { ...w3cContext, tracestate: 'foo=1,bar=2,baz=3' } },
      ],
      [
        'duplicate keys across tracestate lines keep the first',
        headers({ traceparent, tracestate: ['foo=1', 'bar=2,foo=1', 'foo=3'] }),
        { kind: 'context', format: 'w3c', context: { ...w3cContext, tracestate: 'foo=1,bar=2' } },
      ],
      [
        'an invalid member on any tracestate line drops them all',
        headers({ traceparent, tracestate: ['foo=1', 'bar=2,@baz=3'] }),
        { kind: 'context', format: 'w3c', context: w3cContext },
      ],
    ];
    for (const [name, get, expected] of odd) {
      test(name, () => assert.deepEqual(extract(get), expected));
    }
  });
});

describe('inject', () => {
  const tp = (traceId: string, flags: string) => `00-${traceId.padStart(32, '0')}-${SPAN}-${flags}`;
  const multi: Array<[string, TraceContext, Array<[string, string]>]> = [
    ['deferred', ctxOf({}), [['x-b3-traceid', T128], ['x-b3-spanid', SPAN], ['traceparent', tp(T128, '00')]]],
    [
      'sampled, with parent',
      ctxOf({ parentId: PARENT, sampled: true }),
      [['x-b3-traceid', T128], ['x-b3-spanid', SPAN], ['x-b3-parentspanid', PARENT], ['x-b3-sampled', '1'], ['traceparent', tp(T128, '01')]],
    ],
    [
      'not sampled, 64-bit',
      ctxOf({ traceId: T64, sampled: false }),
      [['x-b3-traceid', T64], ['x-b3-spanid', SPAN], ['x-b3-sampled', '0'], ['traceparent', tp(T64, '00')]],
    ],
    [
      'debug sends flags, not sampled',
      ctxOf({ sampled: true, debug: true }),
      [['x-b3-traceid', T128], ['x-b3-spanid', SPAN], ['x-b3-flags', '1'], ['traceparent', tp(T128, '01')]],
    ],
    [
      'tracestate',
      ctxOf({ sampled: true, tracestate: 'foo=1,bar=2' }),
      [['x-b3-traceid', T128], ['x-b3-spanid', SPAN], ['x-b3-sampled', '1'], ['traceparent', tp(T128, '01')], ['tracestate', 'foo=1,bar=2']],
    ],
  ];
  for (const [name, ctx, expected] of multi) {
    test(`multi: ${name}`, () => assert.deepEqual(injected(ctx), expected));
  }

  const single: Array<[string, TraceContext, string]> = [
    ['deferred', ctxOf({}), `${T128}-${SPAN}`],
    ['deferred with parent', ctxOf({ parentId: PARENT }), `${T128}-${SPAN}-${PARENT}`],
    ['sampled', ctxOf({ sampled: true }), `${T128}-${SPAN}-1`],
    ['not sampled with parent', ctxOf({ sampled: false, parentId: PARENT }), `${T128}-${SPAN}-0-${PARENT}`],
    ['debug with parent', ctxOf({ sampled: true, debug: true, parentId: PARENT }), `${T128}-${SPAN}-d-${PARENT}`],
    ['64-bit', ctxOf({ traceId: T64, sampled: true }), `${T64}-${SPAN}-1`],
  ];
  for (const [name, ctx, b3] of single) {
    test(`single: ${name}`, () => {
      assert.equal(formatB3Single(ctx), b3);
      assert.deepEqual(injected(ctx, { b3: 'single' }), [
        ['b3', b3],
        ['traceparent', formatTraceparent(ctx)],
      ]);
    });
  }

  const rejected: Array<[string, TraceContext]> = [
    ['upper-case trace id', ctxOf({ traceId: T128.toUpperCase() })],
    ['all-zero span id', ctxOf({ spanId: '0'.repeat(16) })],
    ['short trace id', ctxOf({ traceId: T64.slice(1) })],
    ['bad parent id', ctxOf({ parentId: 'x' })],
    ['not an object', null as unknown as TraceContext],
  ];
  for (const [name, ctx] of rejected) {
    test(`writes nothing for an invalid context: ${name}`, () => assert.deepEqual(injected(ctx), []));
  }

  test('an invalid tracestate is not written', () => {
    assert.deepEqual(
      injected(ctxOf({ tracestate: 'foo=1\r\nx: y' })).map(([name]) => name),
      ['x-b3-traceid', 'x-b3-spanid', 'traceparent'],
    );
  });

  test('a tracestate with a repeated key is written with its first member only', () => {
    assert.deepEqual(injected(ctxOf({ tracestate: 'foo=1, bar=2,foo=3' })).at(-1), ['tracestate', 'foo=1,bar=2']);
  });

  describe('round trip through extract', () => {
    const contexts: Array<[string, TraceContext]> = [
      ['128-bit deferred', ctxOf({})],
      ['64-bit deferred', ctxOf({ traceId: T64 })],
      ['sampled', ctxOf({ sampled: true })],
      ['not sampled', ctxOf({ sampled: false })],
      ['debug', ctxOf({ sampled: true, debug: true })],
      ['deferred with parent', ctxOf({ parentId: PARENT })],
      ['sampled with parent, 64-bit', ctxOf({ traceId: T64, parentId: PARENT, sampled: true })],
      ['debug with parent and tracestate', ctxOf({ parentId: PARENT, sampled: true, debug: true, tracestate: 'foo=1,t@s=2,1a@b@c=3' })],
      ['128-bit id with zero high bits', ctxOf({ traceId: `0000000000000000${T64}`, sampled: false })],
    ];
    for (const [name, ctx] of contexts) {
      test(name, () => {
        for (const b3 of ['multi', 'single'] as const) {
          const format = b3 === 'multi' ? 'b3-multi' : 'b3-single';
          assert.deepEqual(roundTrip(ctx, { b3 }), { kind: 'context', format, context: ctx }, b3);
          assert.deepEqual(roundTrip(ctx, { b3 }, ['traceparent']), { kind: 'context', format, context: ctx }, `${b3} alone`);
        }
        // W3C alone keeps what it can express.
        const w3c: TraceContext = {
          traceId: ctx.traceId.padStart(32, '0'),
          spanId: ctx.spanId,
          sampled: ctx.sampled === true,
          debug: false,
        };
        if (ctx.tracestate !== undefined) w3c.tracestate = ctx.tracestate;
        const b3Names = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];
        assert.deepEqual(roundTrip(ctx, {}, b3Names), { kind: 'context', format: 'w3c', context: w3c });
      });
    }
  });
});

describe('formatTraceresponse', () => {
  const cases: Array<[string, Parameters<typeof formatTraceresponse>[0], string]> = [
    ['128-bit sampled', { traceId: T128, spanId: SPAN, sampled: true }, `00-${T128}-${SPAN}-01`],
    ['128-bit not sampled', { traceId: T128, spanId: SPAN, sampled: false }, `00-${T128}-${SPAN}-00`],
    ['64-bit padded, deferred', { traceId: T64, spanId: SPAN }, `00-0000000000000000${T64}-${SPAN}-00`],
    ['64-bit debug', { traceId: T64, spanId: SPAN, debug: true }, `00-0000000000000000${T64}-${SPAN}-01`],
    ['debug wins over not sampled', { traceId: T128, spanId: SPAN, sampled: false, debug: true }, `00-${T128}-${SPAN}-01`],
  ];
  for (const [name, ctx, expected] of cases) {
    test(name, () => {
      assert.equal(formatTraceresponse(ctx), expected);
      // Same grammar as traceparent, so the value must parse back.
      assert.equal(parseTraceparent(expected)?.spanId, SPAN);
    });
  }
});

describe('the W3C Level 2 random flag', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';
  const written = (ctx: TraceContext, b3?: 'multi' | 'single') => {
    const headers: Record<string, string> = {};
    inject(ctx, (name, value) => (headers[name.toLowerCase()] = value), { b3 });
    return headers;
  };

  test('is written next to the sampled flag and read back, alone or with B3', () => {
    const ctx: TraceContext = { traceId, spanId, sampled: true, debug: false, random: true };
    const headers = written(ctx);
    assert.equal(headers.traceparent, `00-${traceId}-${spanId}-03`);
    assert.deepEqual(extract((name) => headers[name]), { kind: 'context', format: 'b3-multi', context: ctx });
    const w3cOnly = { traceparent: headers.traceparent };
    assert.deepEqual(extract((name) => w3cOnly[name as 'traceparent']), { kind: 'context', format: 'w3c', context: ctx });
  });

  test('is carried in traceresponse', () => {
    assert.equal(formatTraceresponse({ traceId, spanId, sampled: false, random: true }), `00-${traceId}-${spanId}-02`);
  });
});

describe('edges found by mutation testing', () => {
  test('a traceparent of a later version may be 512 characters long, not 513', () => {
    const head = `01-${W3C_T}-${W3C_S}-01-`;
    assert.ok(parseTraceparent(head + 'x'.repeat(512 - head.length)));
    assert.equal(parseTraceparent(head + 'x'.repeat(513 - head.length)), undefined);
  });

  test('inject writes nothing for a context whose span or parent id is 128 bits long', () => {
    assert.deepEqual(injected({ traceId: T128, spanId: T128, debug: false }), []);
    assert.deepEqual(injected({ traceId: T128, spanId: SPAN, parentId: T128, debug: false }), []);
  });

  test('a tracestate value with a control character is invalid', () => {
    assert.equal(parseTracestate('foo=a\tb'), undefined);
    assert.equal(parseTracestate('foo=a\u0001b'), undefined);
  });
});

