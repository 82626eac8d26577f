/**
 * Trace context propagation between processes: B3, multi and single header
 * (https://github.com/openzipkin/b3-propagation), and W3C Trace Context
 * (`traceparent`, `tracestate`, and the Level 2 `traceresponse`).
 *
 * Extraction precedence, when a request carries several formats:
 * 1. A valid `traceparent`, because the proxies in front of our services speak
 *    W3C, so it describes the latest hop.
 * 2. A valid `b3` single header, because the B3 spec gives it precedence over
 *    the multi headers.
 * 3. Valid `X-B3-*` multi headers.
 * An invalid header counts as absent, so extraction falls through to the next
 * format.
 *
 * W3C cannot carry a parent id, the B3 debug flag or a deferred sampling
 * decision (inject writes a deferred decision as flags `00`). inject writes B3
 * next to `traceparent`, so when the winning `traceparent` matches the B3
 * context, the caller spoke both: extract returns the B3 context and format,
 * those fields survive our own hops, and B3's conventions (a server joining
 * its client's span) apply. They match when both name the same trace and
 * span, and the sampled flag is set exactly when B3 accepts or debugs.
 *
 * Case: W3C requires lowercase hex, so upper case makes a `traceparent`
 * invalid. B3 also says lowercase hex, but Zipkin's own parsers accept upper
 * case, so this module accepts it in B3 and lowercases the ids.
 *
 * Versions: a `traceparent` of version `00` must be exactly 55 characters. A
 * higher version (but not the invalid `ff`) is read by its version-00 fields
 * when it has at least 55 characters and its 56th character, if any, is `-`.
 * Anything after that is ignored. inject always writes version `00`.
 *
 * tracestate: up to 32 non-empty `key=value` members, keys by the Level 2
 * grammar. An invalid member or a 33rd member discards the whole header; of a
 * repeated key only the first member is kept (the W3C test suite accepts either). It is read only with a valid
 * `traceparent`, or when no `traceparent` was sent and B3 wins. It is passed on
 * normalised (members joined by commas, without whitespace or empty members)
 * and at most 512 characters long. To fit, members over 128 characters are
 * dropped first, largest first, then members from the end, as the spec says.
 *
 * Header values are trimmed of spaces and tabs. Empty values, and values over
 * 512 characters (8192 for tracestate), count as absent and are not parsed.
 * Nothing here throws on malformed input.
 */

/** A trace context as it travels between processes. Ids are lowercase hex. */
export interface TraceContext {
  /** 16 or 32 lowercase hex chars, not all zero. */
  traceId: string;
  /** 16 lowercase hex chars, not all zero. */
  spanId: string;
  /** 16 lowercase hex chars, not all zero. B3 only: W3C has none. */
  parentId?: string;
  /** undefined: the caller deferred the decision. */
  sampled?: boolean;
  /** B3 `X-B3-Flags: 1` / b3 `d`: forces sampling, so sampled is then true. */
  debug: boolean;
  /** W3C tracestate, validated, passed on unchanged. */
  tracestate?: string;
  /** W3C Level 2 random flag: the caller's trace id is random; passed on as it came. */
  random?: boolean;
}

/** What traceparent and traceresponse carry. */
type TraceFlags = Pick<TraceContext, 'traceId' | 'spanId' | 'sampled' | 'random'> & { debug?: boolean };

export type PropagationFormat = 'b3-multi' | 'b3-single' | 'w3c';

export type Extracted =
  | { kind: 'context'; format: PropagationFormat; context: TraceContext }
  /** Only a decision, no ids: start a new trace with it. */
  | { kind: 'sampling'; sampled?: boolean; debug: boolean }
  | { kind: 'none' };

/** Header getter: called with lowercase names; the caller makes lookup case-insensitive. */
export type HeaderGetter = (name: string) => string | null | undefined;

export type HeaderSetter = (name: string, value: string) => void;

/** A sampling decision as B3 carries it. */
type Decision = { sampled?: boolean; debug: boolean };

const MAX_VALUE_LENGTH = 512;
const MAX_TRACESTATE_LENGTH = 8192;
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_PROPAGATED_LENGTH = 512;
const TRACESTATE_LARGE_MEMBER = 128;
const TRACEPARENT_LENGTH = 55;
const ZERO_HIGH_BITS = '0000000000000000';

const NONE: Extracted = Object.freeze({ kind: 'none' });

/** Reads the incoming trace context, by the precedence in the module comment. */
export function extract(get: HeaderGetter): Extracted {
  const traceparent = field(get, 'traceparent');
  const w3c = parseTraceparent(traceparent);
  const b3 = extractB3(get);
  if (w3c !== undefined) {
    // The same caller speaking both: B3 carries more, and its conventions (a shared span) apply.
    if (b3.kind === 'context' && sameSpan(b3.context, w3c)) {
      if (w3c.random) b3.context.random = true;
      // Written out: on Node 20 a spread followed by more properties costs some 0.5 µs (BENCHMARKS.md, Findings).
      return { kind: 'context', format: b3.format, context: withTracestate(b3.context, get) };
    }
    return { kind: 'context', format: 'w3c', context: withTracestate(w3c, get) };
  }
  // A tracestate belongs to its traceparent: the spec forbids reading it when that is invalid.
  if (b3.kind === 'context' && traceparent === undefined) withTracestate(b3.context, get);
  return b3;
}

/**
 * Writes the context for a downstream hop: B3 (multi or single) and W3C
 * traceparent (+ tracestate when present). Writes nothing when the ids are not
 * valid lowercase hex, so the next hop starts a new trace.
 */
export function inject(ctx: TraceContext, set: HeaderSetter, options?: { b3?: 'multi' | 'single' }): void {
  if (!isValidContext(ctx)) return;
  const tracestate = parseTracestate(ctx.tracestate);
  const valid = tracestate === ctx.tracestate ? ctx : { ...ctx, tracestate };
  injectValid(valid, formatTraceparent(valid), set, options?.b3);
}

/**
 * inject for a context known to be valid, its tracestate already normalised (a span's
 * own, made from ids we generated or `extract` validated), with its `traceparent` value
 * made once for every hop and the `traceresponse`.
 */
export function injectValid(ctx: TraceContext, traceparent: string, set: HeaderSetter, b3: 'multi' | 'single' = 'multi'): void {
  if (b3 === 'single') {
    set('b3', formatB3Single(ctx));
  } else {
    // Lower-case names, as HTTP/2 requires and HTTP/1.1 allows: undici takes a slower path for mixed case.
    set('x-b3-traceid', ctx.traceId);
    set('x-b3-spanid', ctx.spanId);
    if (ctx.parentId !== undefined) set('x-b3-parentspanid', ctx.parentId);
    // Debug implies accept, so B3 sends no X-B3-Sampled with it.
    if (ctx.debug) set('x-b3-flags', '1');
    else if (ctx.sampled !== undefined) set('x-b3-sampled', ctx.sampled ? '1' : '0');
  }
  set('traceparent', traceparent);
  if (ctx.tracestate !== undefined) set('tracestate', ctx.tracestate);
}

/** W3C Trace Context Level 2 `traceresponse` value: 00-<32 hex trace id>-<16 hex span id>-<flags 2 hex>. */
export function formatTraceresponse(ctx: TraceFlags): string {
  return formatTraceparent(ctx);
}

/** Version-00 `traceparent` value; a 64-bit trace id is left-padded with zeros. */
export function formatTraceparent(ctx: TraceFlags): string {
  const traceId = ctx.traceId.length === 16 ? ZERO_HIGH_BITS + ctx.traceId : ctx.traceId;
  const flags = (ctx.sampled || ctx.debug ? 1 : 0) | (ctx.random ? 2 : 0);
  return `00-${traceId}-${ctx.spanId}-0${flags}`;
}

/**
 * `b3` single header value. With a deferred decision and a parent id this is
 * `{traceid}-{spanid}-{parentspanid}`, as Brave writes it, since the sampling
 * field cannot say "deferred".
 */
export function formatB3Single(ctx: TraceContext): string {
  const sampling = ctx.debug ? '-d' : ctx.sampled === undefined ? '' : ctx.sampled ? '-1' : '-0';
  const parent = ctx.parentId === undefined ? '' : `-${ctx.parentId}`;
  return `${ctx.traceId}-${ctx.spanId}${sampling}${parent}`;
}

/** Parses a `traceparent` value; undefined when invalid. The result has sampled set and no parent id. */
export function parseTraceparent(value: string | null | undefined): TraceContext | undefined {
  const v = clean(value, MAX_VALUE_LENGTH);
  if (v === undefined || v.length < TRACEPARENT_LENGTH) return undefined;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  if (!isHex(v, 0, 2, false) || v.startsWith('ff')) return undefined;
  // Version 00 has exactly these fields; a higher version may only add fields after a dash.
  const isV0 = v.startsWith('00');
  if (isV0 ? v.length !== TRACEPARENT_LENGTH : v.length > TRACEPARENT_LENGTH && v[55] !== '-') return undefined;
  if (!isHexId(v, 3, 35, false) || !isHexId(v, 36, 52, false) || !isHex(v, 53, 55, false)) return undefined;
  const flags = Number.parseInt(v.slice(53, 55), 16);
  const context: TraceContext = { traceId: v.slice(3, 35), spanId: v.slice(36, 52), sampled: (flags & 1) === 1, debug: false };
  if ((flags & 2) === 2) context.random = true;
  return context;
}

/**
 * Validates a `tracestate` value (several header lines may be joined with
 * commas) and returns it normalised and bounded, or undefined when it is
 * invalid or empty.
 */
export function parseTracestate(value: string | null | undefined): string | undefined {
  const v = clean(value, MAX_TRACESTATE_LENGTH);
  if (v === undefined) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const part of v.split(',')) {
    const member = trimOws(part);
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq < 0) return undefined;
    const key = member.slice(0, eq);
    if (!isTracestateKey(key) || !isTracestateValue(member, eq + 1)) return undefined;
    // A repeated key is a vendor's mistake, not a reason to lose every other vendor's entry: the first stays.
    if (keys.has(key)) continue;
    if (members.length === TRACESTATE_MAX_MEMBERS) return undefined;
    keys.add(key);
    members.push(member);
  }
  const kept = boundTracestate(members);
  return kept.length === 0 ? undefined : kept.join(',');
}

/** Parses a `b3` single header value: a context, a sampling decision alone, or none. */
export function parseB3Single(value: string | null | undefined): Extracted {
  const v = clean(value, MAX_VALUE_LENGTH);
  if (v === undefined) return NONE;
  if (v.length === 1) {
    const decision = samplingField(v);
    return decision === undefined ? NONE : { kind: 'sampling', ...decision };
  }
  const fields = v.split('-');
  if (fields.length > 4) return NONE;
  const [rawTrace, rawSpan, third, fourth] = fields;
  const traceId = b3Id(rawTrace, true);
  const spanId = b3Id(rawSpan, false);
  if (traceId === undefined || spanId === undefined) return NONE;
  let decision: Decision | undefined = { debug: false };
  let rawParent = fourth;
  // Brave omits a deferred sampling field but keeps the parent: {traceid}-{spanid}-{parentspanid}.
  if (third !== undefined && third.length === 16 && fourth === undefined) rawParent = third;
  else if (third !== undefined) decision = samplingField(third);
  const parentId = rawParent === undefined ? undefined : b3Id(rawParent, false);
  if (decision === undefined || (rawParent !== undefined && parentId === undefined)) return NONE;
  return { kind: 'context', format: 'b3-single', context: makeContext(traceId, spanId, parentId, decision) };
}

/** Parses the `X-B3-*` multi headers: a context, a sampling decision alone, or none. */
export function parseB3Multi(get: HeaderGetter): Extracted {
  const decision = b3MultiDecision(field(get, 'x-b3-sampled'), field(get, 'x-b3-flags'));
  if (decision === undefined) return NONE;
  const sentTrace = read(get, 'x-b3-traceid');
  const rawTrace = clean(sentTrace, MAX_VALUE_LENGTH);
  if (rawTrace === undefined) {
    // An oversized trace id is malformed, not absent.
    if (sentTrace !== undefined && sentTrace.length > MAX_VALUE_LENGTH) return NONE;
    // Without a trace id only the decision counts, whatever other ids came (as Brave reads B3): a
    // caller that said "not sampled" is not recorded for having sent a span id alone.
    return decision.debug || decision.sampled !== undefined ? { kind: 'sampling', ...decision } : NONE;
  }
  const rawSpan = field(get, 'x-b3-spanid');
  const rawParent = field(get, 'x-b3-parentspanid');
  const traceId = b3Id(rawTrace, true);
  const spanId = b3Id(rawSpan, false);
  const parentId = rawParent === undefined ? undefined : b3Id(rawParent, false);
  if (traceId === undefined || spanId === undefined) return NONE;
  if (rawParent !== undefined && parentId === undefined) return NONE;
  return { kind: 'context', format: 'b3-multi', context: makeContext(traceId, spanId, parentId, decision) };
}

function extractB3(get: HeaderGetter): Extracted {
  const single = parseB3Single(read(get, 'b3'));
  return single.kind === 'none' ? parseB3Multi(get) : single;
}

/** Whether B3 and a traceparent describe the same span with a decision W3C can express the same way. */
function sameSpan(b3: TraceContext, w3c: TraceContext): boolean {
  const traceId = b3.traceId.length === 16 ? ZERO_HIGH_BITS + b3.traceId : b3.traceId;
  return traceId === w3c.traceId && b3.spanId === w3c.spanId && w3c.sampled === (b3.debug || b3.sampled === true);
}

function withTracestate(context: TraceContext, get: HeaderGetter): TraceContext {
  const tracestate = parseTracestate(read(get, 'tracestate'));
  if (tracestate !== undefined) context.tracestate = tracestate;
  return context;
}

/** A context of these fields; a parent id equal to the span id is left out, as Zipkin's model leaves it out of a span. */
function makeContext(traceId: string, spanId: string, parentId: string | undefined, decision: Decision): TraceContext {
  const context: TraceContext = { traceId, spanId, debug: decision.debug };
  if (parentId !== undefined && parentId !== spanId) context.parentId = parentId;
  if (decision.sampled !== undefined) context.sampled = decision.sampled;
  return context;
}

/** The b3 single sampling field: `1`, `0` or `d` (debug). */
function samplingField(v: string): Decision | undefined {
  if (v === '1') return { sampled: true, debug: false };
  if (v === '0') return { sampled: false, debug: false };
  if (v === 'd') return { sampled: true, debug: true };
  return undefined;
}

/**
 * X-B3-Sampled (`1`/`0`, legacy `true`/`false`) and X-B3-Flags; undefined when the sampled value is invalid.
 * Only flags `1` means debug: B3 lets a receiver ignore flags it does not know, so any other value
 * counts as absent and the caller's context is kept (https://github.com/openzipkin/b3-propagation#debug-flag).
 */
function b3MultiDecision(sampled: string | undefined, flags: string | undefined): Decision | undefined {
  let decision: Decision = { debug: false };
  if (sampled !== undefined) {
    const s = sampled.length <= 5 ? sampled.toLowerCase() : '';
    if (s === '1' || s === 'true') decision = { sampled: true, debug: false };
    else if (s === '0' || s === 'false') decision = { sampled: false, debug: false };
    else return undefined;
  }
  return flags === '1' ? { sampled: true, debug: true } : decision;
}

/** A B3 id (16 hex, or 32 too for trace ids) in either case, lowercased; undefined when invalid. */
function b3Id(v: string | undefined, allow128: boolean): string | undefined {
  if (v === undefined || !(v.length === 16 || (allow128 && v.length === 32))) return undefined;
  return isHexId(v, 0, v.length, true) ? v.toLowerCase() : undefined;
}

function isValidContext(ctx: TraceContext): boolean {
  return (
    isLowerHexId(ctx?.traceId, true) &&
    isLowerHexId(ctx.spanId, false) &&
    (ctx.parentId === undefined || isLowerHexId(ctx.parentId, false))
  );
}

function isLowerHexId(v: unknown, allow128: boolean): boolean {
  return typeof v === 'string' && (v.length === 16 || (allow128 && v.length === 32)) && isHexId(v, 0, v.length, false);
}

/** Hex and not all zeros: the spec's rule for every id. */
function isHexId(s: string, start: number, end: number, anyCase: boolean): boolean {
  if (!isHex(s, start, end, anyCase)) return false;
  for (let i = start; i < end; i++) if (s.charCodeAt(i) !== 0x30) return true;
  return false;
}

function isHex(s: string, start: number, end: number, anyCase: boolean): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (anyCase && c >= 0x41 && c <= 0x46);
    if (!ok) return false;
  }
  return true;
}

/**
 * The key grammar of Trace Context Level 2: a lowercase letter or digit, then up to 255
 * of lowercase letters, digits, `_ - * / @` (multi-tenant keys are `tenant@system`).
 */
function isTracestateKey(key: string): boolean {
  if (key.length === 0 || key.length > 256) return false;
  const first = key.charCodeAt(0);
  if (!isLcAlpha(first) && !isDigit(first)) return false;
  for (let i = 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!isLcAlpha(c) && !isDigit(c) && c !== 0x5f && c !== 0x2d && c !== 0x2a && c !== 0x2f && c !== 0x40) return false;
  }
  return true;
}

/** 1 to 256 printable ASCII chars other than `,` and `=`. Trailing OWS is already trimmed, so it cannot end in a space. */
function isTracestateValue(s: string, start: number): boolean {
  if (s.length <= start || s.length - start > 256) return false;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2c || c === 0x3d) return false;
  }
  return true;
}

/** Drops members until the joined list fits, in the order the spec asks for. */
function boundTracestate(members: string[]): string[] {
  let kept = members;
  if (joinedLength(kept) <= TRACESTATE_PROPAGATED_LENGTH) return kept;
  const large = kept.filter((m) => m.length > TRACESTATE_LARGE_MEMBER).sort((a, b) => b.length - a.length);
  for (const member of large) {
    if (joinedLength(kept) <= TRACESTATE_PROPAGATED_LENGTH) return kept;
    kept = kept.filter((m) => m !== member);
  }
  while (joinedLength(kept) > TRACESTATE_PROPAGATED_LENGTH) kept = kept.slice(0, -1);
  return kept;
}

function joinedLength(members: readonly string[]): number {
  return members.reduce((sum, m) => sum + m.length + 1, -1);
}

/** Calls the getter, tolerating throws and odd values; arrays are joined as repeated header lines are. */
function read(get: HeaderGetter, name: string): string | undefined {
  let value: unknown;
  try {
    value = get(name);
  } catch {
    return undefined;
  }
  if (Array.isArray(value)) return value.every((v) => typeof v === 'string') ? value.join(', ') : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** A header's value, cleaned; a function of the module rather than a closure per call (tsx names each closure it makes). */
function field(get: HeaderGetter, name: string): string | undefined {
  return clean(read(get, name), MAX_VALUE_LENGTH);
}

/** Length-checked (before any other work) and trimmed value; undefined when absent, oversized or empty. */
function clean(value: unknown, maxLength: number): string | undefined {
  if (typeof value !== 'string' || value.length > maxLength) return undefined;
  const v = trimOws(value);
  return v === '' ? undefined : v;
}

function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOws(s.charCodeAt(start))) start++;
  while (end > start && isOws(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function isLcAlpha(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
