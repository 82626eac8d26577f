/**
 * Bad input never breaks a service: thousands of generated malformed requests across the
 * four services (bad ids, path traversal, bad query strings, odd headers, broken,
 * oversized and unsupported uploads, decompression bombs) each get a 4xx with a JSON error
 * and no stack trace, odd but legal requests (HEAD, unknown B3 flags) still succeed, malformed
 * HTTP on a raw socket is refused without harm, and every service is healthy afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bombJpeg, makeJpeg } from '../services/imageservice/test-jpegs.ts';
import { startCollector, type RunningCollector } from '../tools/collector/index.ts';
import { ROOT, SERVICES, startService, type RunningService, type ServiceName } from '../tools/landscape.ts';
import { closeCheckingSpans, startTestLandscape, waitForTrace, type TestLandscape } from './support.ts';
import { sleep } from '../tools/wait.ts';

/** The run is reproducible from its seed; FUZZ_SEED explores others. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_260_325);
const REQUESTS = 3000;
const CONCURRENCY = 50;
const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
/** Bytes of odd headers per request, leaving room for the request line under Node's 16 KiB limit. */
const HEADER_BUDGET = 12 * 1024;

const SAMPLES_DIR = new URL('../services/imageservice/samples/', import.meta.url);
const SAMPLES = readdirSync(SAMPLES_DIR)
  .filter((name) => name.endsWith('.jpg'))
  .sort()
  .map((name) => readFileSync(new URL(name, SAMPLES_DIR)));

type Rng = () => number;

/** mulberry32: small, fast and good enough to pick inputs. */
function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const int = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const randomBytes = (rng: Rng, length: number) => Buffer.from(Array.from({ length }, () => Math.floor(rng() * 256)));
const digits = (rng: Rng, length: number) => Array.from({ length }, () => int(rng, 0, 9)).join('');
const hex = (rng: Rng, length: number) => Array.from({ length }, () => pick(rng, [...'0123456789abcdef'])).join('');
const token = (rng: Rng, length: number) =>
  Array.from({ length }, () => pick(rng, [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~'])).join('');

interface Case {
  /** The family of input, for the report and failure messages. */
  kind: string;
  service: ServiceName;
  method: string;
  /** Sent as is: node:http does not normalise or encode it. */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer goes with Content-Length; chunks are streamed (chunked transfer encoding). */
  body?: Buffer | Buffer[];
  /** The statuses this input may get. */
  expect: readonly number[];
  /** The answer must be a JPEG image (a legal upload). */
  jpeg?: boolean;
  /** The answer must continue this trace (its traceresponse names it). */
  traceId?: string;
  /**
   * The server may close the connection while the body is still being sent (an upload over the limit,
   * RFC 9112 §9.6), and the client may then see the close before the answer: judged on a raw socket below.
   */
  mayCloseWhileSending?: boolean;
}

const BAD = [400] as const;
const NOT_FOUND = [404] as const;
const NO_ROUTE = [404, 405] as const;
const OK = [200] as const;

/** Account ids that are not 1 to 10 ASCII digits, as they appear in a path. */
function badAccountId(rng: Rng): string {
  return pick(rng, [
    () => 'abc',
    () => '-1',
    () => `-${digits(rng, int(rng, 1, 9))}`,
    () => digits(rng, int(rng, 11, 40)),
    () => digits(rng, int(rng, 1000, 6000)),
    () => '1.5',
    () => '1e3',
    () => '0x1F',
    () => '+1',
    () => '%201',
    () => '1%20',
    () => '%00',
    () => '10000%00',
    () => '1%0A',
    () => '%ZZ',
    () => '%',
    () => '%2',
    () => '%C0%B1',
    () => '%FF%FE',
    () => encodeURIComponent('١٢٣'),
    () => encodeURIComponent('１００００'),
    () => encodeURIComponent('①'),
    () => encodeURIComponent('💥'),
    () => '..%2F..%2Fetc%2Fpasswd',
    () => '1%2F2',
    () => "1'%20OR%20'1'='1",
    () => '%3Cscript%3E',
    () => encodeURIComponent(token(rng, int(rng, 1, 30))).replace(/^\d+$/, 'x'),
  ])();
}

/** File names that must never reach the file system: traversal, encoded and double-encoded. */
function traversal(rng: Rng): string {
  return pick(rng, [
    '..%2F..%2Fetc%2Fpasswd',
    '..%2f..%2f..%2fetc%2fpasswd',
    '%2e%2e%2fpackage.json',
    '%2e%2e%2f%2e%2e%2fpackage.json',
    '%252e%252e%252fpackage.json',
    '..%252F..%252Fetc%252Fpasswd',
    '..%5c..%5cpackage.json',
    '%2e%2e%5cmain.ts',
    '%c0%ae%c0%ae%2fpackage.json',
    '%2e%2e',
    '..',
    '.',
    '%2e',
    'package.json',
    'main.ts',
    'sepia.ts',
    '..%2Fmain.ts',
    'samples%2Fforest.jpg',
    '.%2Fforest.jpg',
    'forest.jpg%00.png',
    'forest.jpg%2500',
    'forest.jpg%2F',
    'FOREST.JPG',
    'forest',
    '%2Fetc%2Fpasswd',
    '%00',
    '%ZZ',
    encodeURIComponent('ﬁle.jpg'),
    `${'..%2F'.repeat(int(rng, 5, 40))}etc%2Fpasswd`,
  ]);
}

/** A `strength` query string quotes-service must refuse. */
function badStrength(rng: Rng): string {
  const value = pick(rng, [
    '-1',
    '-0',
    '1001',
    '1000000',
    '99999999',
    digits(rng, int(rng, 11, 30)),
    '1e3',
    '1.0',
    '0.5',
    '0x10',
    '+1',
    '%201',
    '1%20',
    'abc',
    'NaN',
    'Infinity',
    '-Infinity',
    '%00',
    '1%00',
    '%ZZ',
    encodeURIComponent('١'),
    encodeURIComponent('５'),
    'true',
    '%5B1%5D',
    `${int(rng, 1, 9)}${'0'.repeat(int(rng, 4, 12))}`,
  ]);
  // A refused first value stays refused whatever follows.
  return rng() < 0.2 ? `strength=${value}&strength=${int(rng, 0, 3)}` : `strength=${value}`;
}

/** Query strings that are odd but legal: quotes-service answers them. */
function legalStrength(rng: Rng): string {
  return pick(rng, [
    '',
    '?',
    '?strength=',
    '?strength',
    `?strength=${int(rng, 0, 3)}`,
    `?strength=000000${int(rng, 0, 3)}`,
    `?strength=${int(rng, 0, 3)}&strength=abc`,
    `?strength[]=${int(rng, 0, 3)}`,
    '?Strength=abc',
    `?&&&strength=${int(rng, 0, 3)}&&`,
    `?strength=${int(rng, 0, 3)}&other=%ZZ`,
    `?x=${'y'.repeat(int(rng, 100, 4000))}`,
  ]);
}

/** Headers no request should need: garbage trace context, long and odd values, all under the header limit. */
function oddHeaders(rng: Rng): Record<string, string> {
  const headers: Record<string, string> = {};
  const builders: Array<() => void> = [
    () =>
      (headers.traceparent = pick(rng, [
        'garbage',
        '00-zzzz',
        `00-${hex(rng, 32)}-${hex(rng, 16)}`,
        `00-${'0'.repeat(32)}-${hex(rng, 16)}-01`,
        `00-${hex(rng, 32)}-${'0'.repeat(16)}-01`,
        `ff-${hex(rng, 32)}-${hex(rng, 16)}-01`,
        `00-${hex(rng, 32).toUpperCase()}-${hex(rng, 16)}-01`,
        `00-${hex(rng, 31)}-${hex(rng, 16)}-01`,
        `00-${hex(rng, 32)}-${hex(rng, 16)}-0x`,
        `00-${hex(rng, 32)}-${hex(rng, 16)}-01-extra`,
        `${hex(rng, 2)}-${hex(rng, 32)}-${hex(rng, 16)}-${hex(rng, 2)}${'-'.repeat(int(rng, 0, 3))}` +
          token(rng, int(rng, 0, 600)),
        token(rng, int(rng, 1, 2000)),
      ])),
    () => (headers.tracestate = pick(rng, ['=', ',,,', 'a=b,'.repeat(int(rng, 30, 200)), `k=${token(rng, int(rng, 1, 9000))}`])),
    () =>
      (headers.b3 = pick(rng, [
        '1',
        'd',
        'x',
        'abc-def',
        `${hex(rng, 32)}-${hex(rng, 16)}-z`,
        `${hex(rng, 32)}-${hex(rng, 16)}-1-${hex(rng, 15)}`,
        `${hex(rng, 40)}-${hex(rng, 16)}`,
        `${'0'.repeat(32)}-${hex(rng, 16)}-1`,
        '-'.repeat(int(rng, 1, 100)),
        token(rng, int(rng, 1, 3000)),
      ])),
    () => {
      headers['X-B3-TraceId'] = pick(rng, [hex(rng, 31), hex(rng, 33), 'zz', '', '0'.repeat(32), token(rng, 64)]);
      headers['X-B3-SpanId'] = pick(rng, [hex(rng, 15), hex(rng, 16), 'not-an-id', '0'.repeat(16)]);
    },
    () => (headers['X-B3-ParentSpanId'] = pick(rng, [hex(rng, 3), 'zz', hex(rng, 64)])),
    () => (headers['X-B3-Sampled'] = pick(rng, ['maybe', '2', 'true', '-1', 'yes'])),
    () => (headers['X-B3-Flags'] = pick(rng, ['2', 'x', '11', '-1'])),
    () => (headers['x-filler'] = 'a'.repeat(int(rng, 1000, 12_000))),
    () => {
      const bytes = randomBytes(rng, int(rng, 1, 200)).map((b) => (b < 0x80 ? 0xe9 : b));
      headers['x-latin1'] = Buffer.from(bytes).toString('latin1');
    },
    () => {
      for (let i = 0; i < int(rng, 10, 60); i++) headers[`x-many-${i}`] = token(rng, 100);
    },
    () => (headers.cookie = Array.from({ length: int(rng, 10, 100) }, () => `${token(rng, 8)}=${token(rng, 40)}`).join('; ')),
    () => (headers['user-agent'] = Buffer.from([0xc3, 0xa9, 0xff, 0x20, 0x7e]).toString('latin1')),
    () => (headers.accept = '*/*;q=abc, text/html;;;'),
    () => (headers['content-type'] = pick(rng, ['application/json', 'image/jpeg', 'multipart/form-data; boundary=x', '%%%'])),
    () => (headers['content-length'] = '0'),
  ];
  for (let i = 0; i < int(rng, 1, 4); i++) pick(rng, builders)();
  // Under the server's 16 KiB header limit (a 431 there is right, but not this family's point).
  const size = () => Object.entries(headers).reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
  while (size() > HEADER_BUDGET) {
    const [largest] = Object.entries(headers).sort(([, a], [, b]) => b.length - a.length)[0]!;
    delete headers[largest];
  }
  return headers;
}

const jpegSample = (rng: Rng) => pick(rng, SAMPLES);

interface Part {
  name: string;
  filename?: string;
  type?: string;
  data: Buffer;
}

function multipart(boundary: string, parts: Part[], close = true) {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n`));
    if (part.type) chunks.push(Buffer.from(`Content-Type: ${part.type}\r\n`));
    chunks.push(Buffer.from('\r\n'), part.data, Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** A small real JPEG whose frame header names another coding process (arithmetic, lossless, hierarchical). */
function unsupportedJpeg(rng: Rng): Buffer {
  const image = Buffer.from(makeJpeg(16, 16));
  const at = image.indexOf(Buffer.from([0xff, 0xc0]));
  image[at + 1] = pick(rng, [0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
  return image;
}

/** A posted body that is not a usable JPEG, with the content type it is sent under, and what it may get if not a 400. */
function badUpload(rng: Rng): Pick<Case, 'kind' | 'headers' | 'body'> & { expect?: readonly number[] } {
  const sample = jpegSample(rng);
  const contentType = () =>
    pick(rng, [
      undefined,
      'image/jpeg',
      'image/png',
      'application/json',
      'text/plain',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'image/jpeg; charset=%%%',
    ]);
  const raw = (kind: string, body: Buffer, type = contentType()) => {
    const headers: Record<string, string> = type ? { 'content-type': type } : {};
    return { kind, body, headers };
  };
  const boundary = `----fuzz${token(rng, 16)}`;
  const formType = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  return pick(rng, [
    () => raw('upload: empty', Buffer.alloc(0)),
    () => raw('upload: random bytes', randomBytes(rng, int(rng, 1, 20_000))),
    () => raw('upload: truncated JPEG', sample.subarray(0, int(rng, 0, sample.length - 1)), 'image/jpeg'),
    () => {
      const start = sample.subarray(0, int(rng, 3, sample.length - 1));
      return raw('upload: JPEG start, then garbage', Buffer.concat([start, randomBytes(rng, int(rng, 1, 5000))]));
    },
    () => {
      const marker = Buffer.from([0xff, 0xd8, 0xff]);
      return raw('upload: JPEG marker, then garbage', Buffer.concat([marker, randomBytes(rng, int(rng, 0, 5000))]));
    },
    // A frame declaring far more pixels than its bytes can hold: 400, or 413 when also over 25 megapixels.
    () => ({ ...raw('upload: decompression bomb', Buffer.from(bombJpeg(int(rng, 512, 65_535), int(rng, 512, 65_535)))), expect: [400, 413] }),
    () => raw('upload: unsupported JPEG coding', unsupportedJpeg(rng), 'image/jpeg'),
    () => {
      const signature = Buffer.from('\x89PNG\r\n\x1a\n', 'latin1');
      return raw('upload: PNG signature', Buffer.concat([signature, randomBytes(rng, int(rng, 0, 500))]), 'image/png');
    },
    () => {
      const json = JSON.stringify({ image: sample.subarray(0, 100).toString('base64') });
      return raw('upload: JSON', Buffer.from(json), 'application/json');
    },
    () => ({ kind: 'upload: multipart, garbage body', headers: formType, body: randomBytes(rng, int(rng, 1, 4000)) }),
    () => ({
      kind: 'upload: multipart, no boundary',
      headers: { 'content-type': 'multipart/form-data' },
      body: randomBytes(rng, int(rng, 0, 400)),
    }),
    () => ({ kind: 'upload: multipart, raw JPEG body', headers: formType, body: sample }),
    () => ({
      kind: 'upload: multipart, wrong boundary',
      headers: formType,
      body: multipart(`other${token(rng, 8)}`, [{ name: 'file', filename: 'a.jpg', type: 'image/jpeg', data: sample }]),
    }),
    () => ({
      kind: 'upload: multipart, unterminated',
      headers: formType,
      body: multipart(boundary, [{ name: 'file', filename: 'a.jpg', data: sample }], false).subarray(0, int(rng, 10, 2000)),
    }),
    () => ({
      kind: 'upload: multipart, no file',
      headers: formType,
      body: multipart(boundary, [{ name: 'text', data: Buffer.from('hello') }]),
    }),
    () => ({
      kind: 'upload: multipart, truncated JPEG',
      headers: formType,
      body: multipart(boundary, [
        { name: 'file', filename: 'a.jpg', type: 'image/jpeg', data: sample.subarray(0, int(rng, 0, sample.length - 1)) },
      ]),
    }),
    () => ({
      kind: 'upload: multipart, random file',
      headers: formType,
      body: multipart(boundary, [{ name: 'file', filename: '../../etc/passwd', data: randomBytes(rng, int(rng, 1, 3000)) }]),
    }),
  ])();
}

/** Splits a body into chunks, to send it streamed. */
function chunked(rng: Rng, body: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const size = int(rng, 1, Math.max(1, Math.ceil(body.length / 3)));
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

function generate(rng: Rng): Case {
  const family = rng();
  const service = pick(rng, SERVICES);
  if (family < 0.14) {
    const prefix = pick(rng, ['/accounts/', '/accounts/', '/api/accounts/']);
    const path = prefix + badAccountId(rng);
    return { kind: 'account id: malformed', service: 'accountservice', method: 'GET', path, expect: BAD };
  }
  if (family < 0.18) {
    const path = `/accounts/${badAccountId(rng)}`;
    return { kind: 'account id: malformed (imageservice)', service: 'imageservice', method: 'GET', path, expect: BAD };
  }
  if (family < 0.21) {
    // Well formed but not seeded: a miss, not a bad request.
    const id = pick(rng, [String(int(rng, 0, 9999)), String(int(rng, 10_100, 2_000_000_000)), '0000000001']);
    return { kind: 'account id: unknown', service: 'accountservice', method: 'GET', path: `/accounts/${id}`, expect: NOT_FOUND };
  }
  if (family < 0.3) {
    const path = `/file/${traversal(rng)}`;
    return { kind: 'file: traversal', service: 'imageservice', method: 'GET', path, expect: NOT_FOUND };
  }
  if (family < 0.32) {
    // Unencoded dot segments are resolved before routing: whatever they name, no route serves it.
    const path = pick(rng, [
      '/file/../../package.json',
      '/file/../main.ts',
      '/file/./../../etc/passwd',
      '/file/%2e%2e/%2e%2e/package.json',
    ]);
    return { kind: 'file: dot segments', service: 'imageservice', method: 'GET', path, expect: NOT_FOUND };
  }
  if (family < 0.42) {
    const path = `/api/quote?${badStrength(rng)}`;
    return { kind: 'quote: bad strength', service: 'quotes-service', method: 'GET', path, expect: BAD };
  }
  if (family < 0.45) {
    const path = `/api/quote${legalStrength(rng)}`;
    return { kind: 'quote: odd but legal query', service: 'quotes-service', method: 'GET', path, expect: OK };
  }
  if (family < 0.55) {
    const path = pick(rng, [
      '/',
      '/accounts',
      '/accounts/',
      '/accounts/10001/extra',
      '/api',
      '/api/quote/1',
      '/api/quotes',
      '/file',
      '/file/',
      '/image/1',
      '/health/x',
      '/HEALTH',
      '/admin',
      '/.env',
      '/.git/config',
      '/testability/healthy/false',
      '/testability/failing/true',
      `/${Array.from({ length: int(rng, 1, 5) }, () => token(rng, int(rng, 1, 20))).join('/')}`,
      `/${token(rng, int(rng, 2000, 12_000))}`,
      `/accounts/${'x'.repeat(int(rng, 2000, 12_000))}/y`,
      `/${encodeURIComponent('ünïcödé/路径')}`,
      '/%ZZ/%00/%',
    ]);
    return { kind: 'unknown route', service, method: 'GET', path, expect: NO_ROUTE };
  }
  if (family < 0.61) {
    const method = pick(rng, ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'PURGE', 'MKCOL', 'LOCK']);
    const path = pick(rng, ['/health', '/accounts/10001', '/api/quote', '/file/forest.jpg', '/accounts/abc']);
    const body = rng() < 0.5 ? randomBytes(rng, int(rng, 0, 2000)) : undefined;
    return { kind: 'unknown method', service, method, path, body, expect: NO_ROUTE };
  }
  if (family < 0.62) {
    return { kind: 'GET /image', service: 'imageservice', method: 'GET', path: '/image', expect: NO_ROUTE };
  }
  if (family < 0.64) {
    // HEAD answers carry no body: only the status is checked.
    const [target, path] = pick(rng, [
      ['accountservice', `/accounts/${badAccountId(rng)}`],
      ['quotes-service', `/api/quote?${badStrength(rng)}`],
      ['imageservice', `/file/${traversal(rng)}`],
    ] as const);
    return { kind: 'HEAD, bad input', service: target, method: 'HEAD', path, expect: [400, 404] };
  }
  if (family < 0.85) {
    const upload = badUpload(rng);
    const body = upload.body;
    const stream = body instanceof Buffer && body.length > 1 && rng() < 0.25;
    const sent = stream ? chunked(rng, body) : body;
    return { ...upload, service: 'imageservice', method: 'POST', path: '/image', body: sent, expect: upload.expect ?? BAD };
  }
  if (family < 0.855) {
    // Legal, if oddly labelled: the raw body is the image whatever the content type says.
    const type = pick(rng, ['text/plain', 'application/octet-stream', 'image/png']);
    const sample = jpegSample(rng);
    return {
      kind: 'upload: JPEG, odd content type',
      service: 'imageservice',
      method: 'POST',
      path: '/image',
      headers: { 'content-type': type },
      body: sample,
      expect: OK,
      jpeg: true,
    };
  }
  if (family < 0.87) {
    // HEAD on routes whose GET calls other services, burns CPU or tones an image: the status, and nothing done.
    const [target, path] = pick(rng, [
      ['accountservice', `/accounts/${int(rng, 10_001, 10_099)}`],
      ['accountservice', `/api/accounts/${int(rng, 10_001, 10_099)}`],
      ['quotes-service', `/api/quote?strength=${int(rng, 0, 1000)}`],
      ['imageservice', pick(rng, ['/file/forest.jpg', '/file/ocean.jpg', '/file/sunset.jpg'])],
      ['imageservice', `/accounts/${int(rng, 10_000, 10_099)}`],
      [pick(rng, SERVICES), pick(rng, ['/health', '/health/ready', '/health/live'])],
    ] as const);
    return { kind: 'HEAD, legal request', service: target, method: 'HEAD', path, expect: OK };
  }
  if (family < 0.94) {
    const [target, path] = pick(rng, [
      ['accountservice', '/health'],
      ['quotes-service', '/health'],
      ['imageservice', '/health'],
      ['vipservice', '/health'],
      ['quotes-service', `/api/quote?strength=${int(rng, 0, 3)}`],
      ['imageservice', `/accounts/${int(rng, 10_000, 10_099)}`],
      // Not 10000: reading the VIP would notify vipservice on every hit.
      ['accountservice', `/accounts/${int(rng, 10_001, 10_099)}`],
    ] as const);
    return { kind: 'odd headers, legal request', service: target, method: 'GET', path, headers: oddHeaders(rng), expect: OK };
  }
  if (family < 0.96) {
    // B3 lets a receiver ignore flags it does not know: the caller's context is kept.
    const traceId = hex(rng, 32);
    const headers = {
      'X-B3-TraceId': traceId,
      'X-B3-SpanId': hex(rng, 15) + pick(rng, [...'123456789abcdef']),
      'X-B3-Sampled': pick(rng, ['1', '0']),
      'X-B3-Flags': pick(rng, ['2', '3', 'abc', '0x1', '-1', '11', '01', 'd', 'true', ' 2 ']),
    };
    const [target, path] = pick(rng, [
      ['accountservice', `/accounts/${int(rng, 10_001, 10_099)}`],
      ['quotes-service', `/api/quote?strength=${int(rng, 0, 3)}`],
      ['imageservice', `/accounts/${int(rng, 10_000, 10_099)}`],
    ] as const);
    return { kind: 'B3 context, unknown flags', service: target, method: 'GET', path, headers, expect: OK, traceId };
  }
  const path = pick(rng, [`/accounts/${badAccountId(rng)}`, '/nowhere']);
  const headers = oddHeaders(rng);
  return { kind: 'odd headers, bad request', service: 'accountservice', method: 'GET', path, headers, expect: [400, 404] };
}

/** Inputs over the upload limit, declared and streamed: a few, as each is 8 MiB and more. */
function oversized(): Case[] {
  const big = Buffer.alloc(MAX_UPLOAD_BYTES + 1, 0xab);
  const boundary = 'fuzz-oversized';
  const form = multipart(boundary, [{ name: 'file', filename: 'big.jpg', type: 'image/jpeg', data: big }]);
  const upload = (kind: string, body: Buffer | Buffer[], headers: Record<string, string> = {}): Case => ({
    kind,
    service: 'imageservice',
    method: 'POST',
    path: '/image',
    headers,
    body,
    expect: [413],
    mayCloseWhileSending: true,
  });
  const stream = (body: Buffer, size = 65_536) =>
    Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size));
  const formType = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  return [
    upload('upload: oversized', big, { 'content-type': 'image/jpeg' }),
    upload('upload: oversized', Buffer.concat([SAMPLES[0]!, big])),
    upload('upload: oversized, streamed', stream(big)),
    upload('upload: oversized, streamed', stream(Buffer.concat([big, big]))),
    upload('upload: oversized multipart', form, formType),
    upload('upload: oversized multipart, streamed', stream(form), formType),
  ];
}

type Answer = { status: number; headers: IncomingHttpHeaders; body: Buffer } | { error: string };

const sockets = new WeakSet<Socket>();

/** Sends one case and collects the whole answer; a connection error or a hang is an answer too. */
function send(port: number, agent: Agent, c: Case): Promise<Answer> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (answer: Answer) => {
      if (done) return;
      done = true;
      resolve(answer);
    };
    // Framing is explicit: node:http leaves a DELETE or OPTIONS body unframed, which would be a bad request of our making.
    const headers = { ...c.headers };
    if (Array.isArray(c.body)) headers['transfer-encoding'] = 'chunked';
    else if (c.body) headers['content-length'] = String(c.body.length);
    // An oversized upload goes on a connection of its own: whether that connection stays usable is judged
    // below ("after refusing an oversized upload…"); the server may close it after answering (at once, or after
    // draining the refused body for a second), which would reset an unrelated request sent on it next.
    const size = Array.isArray(c.body) ? c.body.reduce((sum, chunk) => sum + chunk.length, 0) : (c.body?.length ?? 0);
    const connection = size > MAX_UPLOAD_BYTES ? false : agent;
    const req = request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent: connection }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (error) => finish({ error: `response: ${error.message}` }));
    });
    req.on('error', (error) => finish({ error: `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}` }));
    req.on('socket', (socket) => {
      if (sockets.has(socket)) return;
      sockets.add(socket);
      // A refused streamed upload goes on writing into the connection the server closed after answering;
      // that late error follows the answer, which is what is judged. Errors before it reach `req`.
      socket.on('error', () => {});
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    if (Array.isArray(c.body)) {
      for (const chunk of c.body) req.write(chunk);
      req.end();
    } else {
      req.end(c.body);
    }
  });
}

async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

const PROBE_ROUTES = ['/health', '/health/ready', '/health/live'];
const STACK_TRACE = [/\n\s*at /, /\bat [\w$.<>[\] ]+ \(/, /\.[cm]?[jt]s:\d+/, /node_modules/, /file:\/\//];

/** What is wrong with an answer to a case, if anything. */
function problemWith(c: Case, answer: Answer): string | undefined {
  if ('error' in answer) {
    return c.mayCloseWhileSending && /^(EPIPE|ECONNRESET) /.test(answer.error) ? undefined : `no answer: ${answer.error}`;
  }
  const { status, headers, body } = answer;
  if (!c.expect.includes(status)) {
    return `status ${status}, expected ${c.expect.join(' or ')}: ${body.subarray(0, 200).toString()}`;
  }
  // Health and probe routes answer untraced (lib/service.ts); every other answer names its trace.
  if ((c.method === 'GET' || c.method === 'HEAD') && PROBE_ROUTES.includes(c.path)) {
    if (headers.traceresponse !== undefined) return `a traceresponse on a probe route: ${headers.traceresponse}`;
  } else if (!/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/.test(String(headers.traceresponse))) {
    return `no valid traceresponse: ${headers.traceresponse}`;
  } else if (c.traceId && !String(headers.traceresponse).startsWith(`00-${c.traceId}-`)) {
    return `a new trace ${headers.traceresponse}, not the caller's ${c.traceId}`;
  }
  if (c.method === 'HEAD') return body.length === 0 ? undefined : `a HEAD answered with ${body.length} bytes of body`;
  const text = body.toString('latin1');
  if (c.jpeg) {
    if (headers['content-type'] !== 'image/jpeg') return `content-type ${headers['content-type']}, expected image/jpeg`;
    if (body[0] !== 0xff || body[1] !== 0xd8) return 'the body is not a JPEG';
    return undefined;
  }
  for (const pattern of [...STACK_TRACE, new RegExp(ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))]) {
    if (pattern.test(text)) return `the body leaks internals (${pattern}): ${text.slice(0, 300)}`;
  }
  if (status < 400) return undefined;
  const type = String(headers['content-type']);
  if (!type.startsWith('application/json')) return `content-type ${type}, expected JSON`;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return `the body is not JSON: ${text.slice(0, 200)}`;
  }
  const error = (json as { error?: unknown } | null)?.error;
  if (typeof error !== 'string' || error.length === 0) return `no string "error" in ${text.slice(0, 200)}`;
  return undefined;
}

interface RawAnswer {
  data: string;
  error?: string;
}

/** Writes raw bytes to a port and collects what comes back until the server closes or `waitMs` passes. */
function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, error });
    });
    socket.write(bytes);
  });
}

/**
 * Posts 9 MiB on one keep-alive connection, as a client that sends its whole body does, and
 * judges the connection after the 413: announced `connection: close` and closed, or still
 * answering the next request on it a second later. What it saw is returned for the report.
 */
function oversizedThenReuse(port: number, streamed: boolean): Promise<string> {
  const size = 9 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0xab);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let written = 0;
    let phase: 'upload' | 'reuse' | 'judged' = 'upload';
    const fail = (why: string) => {
      if (phase === 'judged') return;
      phase = 'judged';
      clearTimeout(timer);
      socket.destroy();
      const what = streamed ? 'streamed' : 'declared-length';
      reject(new Error(`${what} oversized upload: ${why}; received ${JSON.stringify(received.slice(0, 300))}`));
    };
    const timer = setTimeout(() => fail('no verdict within 10 s'), 10_000);
    const done = (outcome: string) => {
      phase = 'judged';
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const head = () => received.slice(0, received.indexOf('\r\n\r\n'));
    const announcedClose = () => /^connection:\s*close/im.test(head());

    socket.on('data', (data) => {
      received += data.toString('latin1');
      if (phase === 'upload' && received.includes('\r\n\r\n')) {
        if (!/^HTTP\/1\.1 413 /.test(received)) return fail('expected a 413');
        if (announcedClose()) return; // judged on close
        phase = 'reuse';
        // Later than any server-side grace period for an unread body.
        setTimeout(() => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'), 1000);
      } else if (phase === 'reuse' && /HTTP\/1\.1 200 [^]*"status":"UP"/.test(received.slice(received.indexOf('\r\n\r\n')))) {
        done('413 keep-alive, the connection answered the next request');
      }
    });
    socket.on('error', () => {}); // the close decides
    socket.on('close', () => {
      if (phase === 'judged') return;
      if (phase === 'upload' && announcedClose()) return done('413 with connection: close, then closed');
      fail(phase === 'upload' ? 'closed before a 413' : 'a 413 announced keep-alive, then the connection was dropped');
    });

    socket.write(
      streamed
        ? 'POST /image HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
        : `POST /image HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`,
    );
    const pump = () => {
      while (written < size && !socket.destroyed) {
        written += chunk.length;
        const frame = streamed ? [Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')] : [chunk];
        if (streamed && written >= size) frame.push(Buffer.from('0\r\n\r\n'));
        if (!socket.write(Buffer.concat(frame))) return void socket.once('drain', pump);
      }
    };
    pump();
  });
}

describe('bad input', () => {
  let landscape: TestLandscape;
  const ports = {} as Record<ServiceName, number>;

  before(async () => {
    // Room in the toning queue for every request in flight: this is about bad input, not overload (e2e/images.test.ts).
    landscape = await startTestLandscape('node', { serviceEnv: { imageservice: { IMAGE_QUEUE: String(CONCURRENCY) } } });
    for (const name of SERVICES) ports[name] = landscape.services[name].port;
  });
  after(() => landscape?.close());

  it('answers a valid JPEG posted raw with the toned image', async () => {
    for (const sample of SAMPLES) {
      const response = await fetch(`${landscape.services.imageservice.url}/image`, { method: 'POST', body: sample });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'image/jpeg');
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8]);
    }
  });

  it(`answers ${REQUESTS} generated bad requests with a 4xx and a JSON error, never a 5xx or a dropped connection`, async (t) => {
    const rng = mulberry32(SEED);
    const cases = [...oversized()];
    while (cases.length < REQUESTS) cases.push(generate(rng));
    // Spread the big uploads through the run rather than all at the start.
    for (let i = cases.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [cases[i], cases[j]] = [cases[j]!, cases[i]!];
    }

    // Keep-alive, as real clients do: a connection left unusable by one answer would fail the next request on it.
    // With a timeout, the agent honours the servers' `Keep-Alive: timeout=5` hint (dropping idle sockets a second
    // before), as real clients do; without one it would reuse a socket the server is closing.
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, timeout: 60_000 });
    const started = Date.now();
    const answers = await pool(cases, CONCURRENCY, (c) => send(ports[c.service], agent, c));
    agent.destroy();
    const seconds = (Date.now() - started) / 1000;

    const byStatus: Record<string, number> = {};
    const problems: string[] = [];
    for (const [i, c] of cases.entries()) {
      const answer = answers[i]!;
      const key = 'error' in answer ? 'no answer' : String(answer.status);
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      const problem = problemWith(c, answer);
      if (problem) problems.push(`${c.kind}: ${c.method} ${c.service}${c.path.slice(0, 120)} → ${problem}`);
    }
    t.diagnostic(`seed ${SEED}: ${cases.length} requests in ${seconds.toFixed(1)} s; by status ${JSON.stringify(byStatus)}`);
    const kinds = new Set(cases.map((c) => c.kind));
    t.diagnostic(`${kinds.size} kinds of input`);
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} bad answers (first 20 shown); FUZZ_SEED=${SEED}`);
    assert.ok(!Object.keys(byStatus).some((status) => status.startsWith('5')), 'no 5xx');

    // No request ended in the services' internal-error path, and none of them exited.
    const failures = landscape.logs.filter((l) => l.json?.msg === 'request failed' || l.json?.level === 'error');
    assert.deepEqual(failures.map((l) => l.line.slice(0, 300)), []);
    for (const name of SERVICES) assert.equal(landscape.services[name].process.exitCode, null, `${name} is running`);

    // Odd paths and headers did not poison span export: every sampled answer's trace reached the collector.
    const traceIds = answers
      .flatMap((a) => ('error' in a ? [] : [String(a.headers.traceresponse)]))
      .filter((h) => h.endsWith('-01'))
      .map((h) => h.split('-')[1]!);
    const deadline = Date.now() + 15_000;
    let missing = traceIds;
    while (missing.length > 0 && Date.now() < deadline) {
      missing = missing.filter((id) => landscape.collector.store.getTrace(id).length === 0);
      if (missing.length > 0) await sleep(200);
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${traceIds.length} traces never reached the collector`);
  });

  it('after refusing an oversized upload, keeps the connection usable or says it closes it', async (t) => {
    const outcomes: string[] = [];
    for (const streamed of [false, true]) {
      const outcome = await oversizedThenReuse(ports.imageservice, streamed);
      outcomes.push(`${streamed ? 'streamed' : 'declared length'}: ${outcome}`);
    }
    t.diagnostic(outcomes.join('; '));
  });

  it('refuses malformed HTTP on a raw socket with a 4xx or a close, and stays up', async (t) => {
    const port = ports.accountservice;
    const crlf = (...lines: string[]) => lines.join('\r\n');
    const raw: Record<string, string | Buffer> = {
      'invalid request line': 'GARBAGE\r\n\r\n',
      'request line without version': 'GET /health\r\n\r\n',
      'header line without a colon': crlf('GET /health HTTP/1.1', 'Host: x', 'NoColonHere', '', ''),
      'header over the server limit': crlf('GET /health HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000)}`, '', ''),
      'request line over the server limit': crlf(`GET /${'a'.repeat(20_000)} HTTP/1.1`, 'Host: x', '', ''),
      'unknown method': crlf('FOO /health HTTP/1.1', 'Host: x', '', ''),
      'unsupported version': crlf('GET /health HTTP/9.9', 'Host: x', '', ''),
      'control character in the path': crlf('GET /he\x01alth HTTP/1.1', 'Host: x', '', ''),
      'space in the path': crlf('GET /accounts/1 0 HTTP/1.1', 'Host: x', '', ''),
      'NUL in a header': crlf('GET /health HTTP/1.1', 'Host: x', 'X-Nul: a\0b', '', ''),
      'invalid header name': crlf('GET /health HTTP/1.1', 'Host: x', 'Bad Header: 1', '', ''),
      'non-numeric Content-Length': crlf('POST /health HTTP/1.1', 'Host: x', 'Content-Length: abc', '', ''),
      'conflicting Content-Length': crlf('POST /health HTTP/1.1', 'Host: x', 'Content-Length: 1', 'Content-Length: 2', '', 'ab'),
      'Content-Length and chunked': crlf(
        'POST /health HTTP/1.1',
        'Host: x',
        'Content-Length: 4',
        'Transfer-Encoding: chunked',
        '',
        '0',
        '',
        '',
      ),
      'bad chunk size': crlf('POST /accounts/1 HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', '', 'ZZZ', ''),
      'missing Host': crlf('GET /health HTTP/1.1', '', ''),
      'HTTP/2 preface': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'TLS client hello': Buffer.from('16030100a5010000a10303' + '00'.repeat(60), 'hex'),
      'binary garbage': Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)),
    };
    const results = await Promise.all(
      Object.entries(raw).map(async ([name, bytes]) => ({ name, ...(await rawExchange(port, bytes)) })),
    );
    const outcomes: string[] = [];
    for (const { name, data, error } of results) {
      const statusLine = data.split('\r\n', 1)[0] ?? '';
      outcomes.push(`${name}: ${statusLine || `closed${error ? ` (${error})` : ''}`}`);
      const refused = data === '' || /^HTTP\/1\.[01] 4\d\d /.test(statusLine);
      assert.ok(refused, `${name}: answered ${JSON.stringify(data.slice(0, 200))}`);
    }
    t.diagnostic(outcomes.join('; '));

    assert.equal(landscape.services.accountservice.process.exitCode, null, 'accountservice is running');
    const health = await fetch(`${landscape.services.accountservice.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  });

  it('answers requests the Node adapter refuses (bad Host, raw backslash) with a JSON error and a traceresponse', async () => {
    const port = ports.imageservice;
    for (const [i, bytes] of [
      'GET /health HTTP/1.1\r\nHost: a b\r\n',
      'GET /health HTTP/1.1\r\nHost: x@evil\r\n',
      'GET /file/..\\..\\package.json HTTP/1.1\r\nHost: x\r\n',
    ].entries()) {
      // Each with a caller's context, once B3 and once W3C, and once without.
      const [traceId, spanId] = [randomUUID(), randomUUID()].map((u) => u.replace(/-/g, '')) as [string, string];
      const context = [
        `X-B3-TraceId: ${traceId}\r\nX-B3-SpanId: ${spanId.slice(16)}\r\nX-B3-Sampled: 1\r\n`,
        `traceparent: 00-${traceId}-${spanId.slice(16)}-01\r\n`,
        '',
      ][i]!;
      const { data } = await rawExchange(port, `${bytes}${context}Connection: close\r\n\r\n`);
      const what = JSON.stringify(bytes.split('\r\n').slice(0, 2));
      assert.match(data, /^HTTP\/1\.1 400 /, what);
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      assert.match(body, /"error":"/, `a JSON error for ${what}`);
      const traceresponse = /^traceresponse: (00-([0-9a-f]{32})-[0-9a-f]{16}-01)$/im.exec(data);
      assert.ok(traceresponse, `a sampled traceresponse for ${what}`);
      if (context) assert.equal(traceresponse[2], traceId, `the caller's trace continued for ${what}`);
      const spans = await waitForTrace(landscape.collector.url, traceresponse[2]!, (s) => s.length > 0);
      assert.equal(spans[0]!.tags?.['http.status_code'], '400', `the refusal recorded in the trace for ${what}`);
    }
  });

  it('leaves every service healthy and serving', async (t) => {
    for (const name of SERVICES) {
      const response = await fetch(`${landscape.services[name].url}/health`);
      assert.equal(response.status, 200, `${name} /health`);
      assert.equal(((await response.json()) as { status: string }).status, 'UP');
    }
    // A breaker opened by slow answers under the load above closes again within its reset time.
    type Account = { id: string; quote: { ipAddress: string }; imageData: { servedBy: string } };
    const deadline = Date.now() + 20_000;
    let account: Account;
    let attempts = 0;
    do {
      if (attempts++ > 0) await sleep(500);
      const response = await fetch(`${landscape.services.accountservice.url}/accounts/10001`);
      assert.equal(response.status, 200);
      account = (await response.json()) as Account;
      assert.equal(account.id, '10001');
    } while (
      (account.quote.ipAddress === 'circuit-breaker' || account.imageData.servedBy === 'fallback') &&
      Date.now() < deadline
    );
    assert.notEqual(account.quote.ipAddress, 'circuit-breaker', 'the quote came from quotes-service');
    assert.notEqual(account.imageData.servedBy, 'fallback', 'the image came from imageservice');
    t.diagnostic(`GET /accounts/10001 fully served after ${attempts} attempt(s)`);
  });
});

for (const runtime of ['node', 'deno'] as const) {
  describe(`a Host that is no host, on ${runtime}`, () => {
    let collector: RunningCollector;
    let quotes: RunningService;
    const lines: string[] = [];
    before(async () => {
      collector = await startCollector({ port: 0 });
      const env = { PORT: '0', ZIPKIN_URL: collector.url, ZIPKIN_EXPORT_INTERVAL_MS: '200' };
      quotes = await startService('quotes-service', env, { runtime, onLog: (_name, line) => lines.push(line) });
    });
    after(() => closeCheckingSpans(collector, () => quotes.stop()));

    // Deno builds the request's URL from Host and target: left alone, `x/health?` would route /health.
    for (const host of ['x/health?', 'x:99999', 'a b', 'x@evil', 'foo.123', '[:::]', 'x:']) {
      it(`refuses Host: ${host} with a JSON 400 and a traceresponse, recording the refusal in the trace and the log`, async () => {
        const traceId = randomUUID().replace(/-/g, '');
        const { data } = await rawExchange(
          quotes.port,
          `GET /api/quote?strength=1 HTTP/1.1\r\nHost: ${host}\r\ntraceparent: 00-${traceId}-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n`,
        );
        assert.match(data, /^HTTP\/1\.1 400 /);
        const { error } = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4)) as { error: string };
        assert.match(error, /^Invalid (host header|URL)$/);
        assert.match(data, new RegExp(`^traceresponse: 00-${traceId}-[0-9a-f]{16}-01$`, 'im'));
        const [span] = await waitForTrace(collector.url, traceId, (spans) => spans.length > 0);
        assert.equal(span!.tags?.['http.path'], '/api/quote', 'the path the request asked for');
        assert.equal(span!.tags?.['http.status_code'], '400');
        const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['traceId'] === traceId && l['msg'] === 'request');
        assert.deepEqual(
          line && { level: line['level'], spanId: line['spanId'], method: line['method'], path: line['path'], status: line['status'], error: line['error'] },
          { level: 'info', spanId: span!.id, method: 'GET', path: '/api/quote', status: 400, error },
          'an access line as for any other answer',
        );
      });
    }

    it('refuses an absolute-form target that makes no http(s) URL, naming only its path', async () => {
      for (const target of ['http://x:99999/api/quote', 'ftp://evil.example/api/quote', 'http://u:secret@[:::]/api/quote']) {
        const traceId = randomUUID().replace(/-/g, '');
        const { data } = await rawExchange(quotes.port, `GET ${target} HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${traceId}-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n`);
        assert.match(data, /^HTTP\/1\.1 400 /, target);
        const [span] = await waitForTrace(collector.url, traceId, (spans) => spans.length > 0);
        assert.equal(span!.tags?.['http.path'], '/api/quote', target);
        assert.ok(!lines.some((l) => l.includes('secret')), 'no credentials in the log');
      }
    });

    it('serves a Host that is a host, with or without a port', async () => {
      for (const host of ['x', 'quotes-service.default.svc:8080', '[::1]:80', '10.0.0.1', 'x:000080', 'X.Example.']) {
        const { data } = await rawExchange(quotes.port, `GET /api/quote?strength=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.match(data, /^HTTP\/1\.1 200 /, host);
      }
    });
  });
}

describe('bad configuration', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bad-config-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const aFile = join(dataDir, 'a-file');
  writeFileSync(aFile, '');
  const cases: Array<[ServiceName, string, string]> = [
    ['vipservice', 'DATA_DIR', aFile],
    ['vipservice', 'VIP_QUEUE', 'amq.notifications'],
    ['accountservice', 'VIP_QUEUE', 'q'.repeat(300)],
    ['accountservice', 'DATA_DIR', aFile],
    ['accountservice', 'QUOTE_STRENGTH', 'strong'],
    ['accountservice', 'RETRY_ATTEMPTS', '0'],
    ['quotes-service', 'PORT', '70000'],
    ['vipservice', 'AMQP_URL', 'http://127.0.0.1:5672'],
    ['imageservice', 'TRACING_SAMPLE_RATE', '2'],
    ['quotes-service', 'PORT', '0x50'],
    ['accountservice', 'SHUTDOWN_TIMEOUT_MS', '3000000000'],
    ['accountservice', 'BREAKER_WINDOW_MS', '100000000000'],
    ['quotes-service', 'LOG_LEVEL', 'toString'],
    ['vipservice', 'LOG_LEVEL', 'constructor'],
  ];
  for (const [service, variable, value] of cases) {
    it(`${service} stops at start when ${variable}=${value}, naming the variable`, async () => {
      const lines: string[] = [];
      const env = { DATA_DIR: dataDir, [variable]: value };
      await assert.rejects(startService(service, env, { onLog: (_, line) => lines.push(line) }), /exited with code [1-9]/);
      const complaint = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l['msg'] === 'bad configuration');
      assert.equal(complaint?.['variable'], variable, lines.join('\n'));
      assert.match(String(complaint?.['error']), new RegExp(JSON.stringify(value).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    });
  }
});
