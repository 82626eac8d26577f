/**
 * JSON-lines logging. A logger carries fixed fields (service, and per request the
 * trace and span ids), so every line written while handling a request can be
 * joined with its trace.
 */
import process from 'node:process';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /**
   * Whether lines at `level` are written: a caller checks it before building the fields
   * of a line that would be dropped (`if (log.enabled('debug')) log.debug('…', { … })`).
   */
  enabled(level: LogLevel): boolean;
  /** A logger whose lines also carry `fields`. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where finished lines go; defaults to standard output, through `stdoutLines`. */
  write?: (line: string) => void;
}

export function createLogger(fields: LogFields, options: LoggerOptions = {}): Logger {
  return new JsonLogger(undefined, fields, rank[options.level ?? 'info'], options.write ?? stdoutLines());
}

let toStdout: ((line: string) => void) | undefined;

/**
 * Lines to standard output, written together at the end of the current turn of the event
 * loop (or every 256 lines): one write for all the access lines of the requests answered
 * in a turn, where a write per line would cost more than the rest of the logging. Lines
 * still waiting are written when the process exits (process.exit and a crash included;
 * SIGKILL loses at most one turn's lines).
 */
export function stdoutLines(): (line: string) => void {
  if (toStdout) return toStdout;
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    process.stdout.write(text);
  };
  process.on('exit', flush);
  process.on('uncaughtExceptionMonitor', flush);
  toStdout = (line) => {
    const count = pending.push(line);
    if (count === 1) setImmediate(flush);
    else if (count >= 256) flush();
  };
  return toStdout;
}

/**
 * A child keeps a link to its parent and serialises the fixed fields only when it writes
 * its first line: every request gets a logger, and most write one line or none.
 */
class JsonLogger implements Logger {
  /** The fixed fields as JSON members, `"service":"x","traceId":"…",`, once serialised. */
  #fixed: string | undefined;

  readonly fields: LogFields;

  constructor(
    readonly parent: JsonLogger | undefined,
    fields: LogFields,
    readonly min: number,
    readonly write: (line: string) => void,
  ) {
    this.fields = renameReserved(fields);
  }

  debug(msg: string, extra?: LogFields): void {
    this.#emit('debug', msg, extra);
  }
  info(msg: string, extra?: LogFields): void {
    this.#emit('info', msg, extra);
  }
  warn(msg: string, extra?: LogFields): void {
    this.#emit('warn', msg, extra);
  }
  error(msg: string, extra?: LogFields): void {
    this.#emit('error', msg, extra);
  }
  enabled(level: LogLevel): boolean {
    return rank[level] >= this.min;
  }
  child(fields: LogFields): Logger {
    return new JsonLogger(this, fields, this.min, this.write);
  }

  #fixedMembers(): string {
    if (this.#fixed === undefined) {
      const parent = this.parent;
      // A child's field of a name its parent has replaces the parent's.
      if (!parent) this.#fixed = members(this.fields);
      else this.#fixed = parent.#repeats(this.fields) ? members(this.#fixedFields()) : parent.#fixedMembers() + members(this.fields);
    }
    return this.#fixed;
  }

  /** Every fixed field, the parent's first, a child's replacing its parent's of the same name. */
  #fixedFields(): LogFields {
    return this.parent ? { ...this.parent.#fixedFields(), ...this.fields } : { ...this.fields };
  }

  /** Whether `fields` names a field this logger's lines already have: a fixed one, or `time`, `level`, `msg`. */
  #repeats(fields: LogFields): boolean {
    for (const key in fields) {
      if (RESERVED.has(key)) return true;
      for (let logger: JsonLogger | undefined = this; logger; logger = logger.parent) if (key in logger.fields) return true;
    }
    return false;
  }

  // The line is assembled as text, so each field is serialised once. No line holds a name
  // twice (RFC 8259 § 4: names SHOULD be unique, and log tools differ over which of two they
  // keep): a line's own field replaces a fixed one of its name, and one named `time`, `level`
  // or `msg`, which are the logger's, is written as `fields.<name>`.
  #emit(level: LogLevel, msg: string, extra?: LogFields): void {
    if (rank[level] < this.min) return;
    const head = `{"time":"${new Date().toISOString()}","level":"${level}",`;
    if (extra && this.#repeats(extra)) {
      const own = renameReserved(extra);
      const fixed = this.#fixedFields();
      for (const key in own) delete fixed[key];
      this.write(`${head}${members(fixed)}"msg":${JSON.stringify(msg)},${members(own).slice(0, -1)}}`);
      return;
    }
    const rest = extra ? members(extra).slice(0, -1) : '';
    this.write(`${head}${this.#fixedMembers()}"msg":${JSON.stringify(msg)}${rest && `,${rest}`}}`);
  }
}

/** The names each line has of the logger's own. */
const RESERVED = new Set(['time', 'level', 'msg']);

/** `fields` with `time`, `level` and `msg` written as `fields.time` …: those names are the logger's. */
function renameReserved(fields: LogFields): LogFields {
  let reserved = false;
  for (const key in fields) reserved ||= RESERVED.has(key);
  if (!reserved) return fields;
  const renamed: LogFields = {};
  for (const key in fields) renamed[RESERVED.has(key) ? `fields.${key}` : key] = fields[key];
  return renamed;
}

/** `fields` as JSON object members, each followed by a comma: `"a":1,"b":"x",` (empty for no fields). */
function members(fields: LogFields): string {
  const json = JSON.stringify(fields, holdsObject(fields) ? errorReplacer : undefined);
  return json.length > 2 ? `${json.slice(1, -1)},` : '';
}

/** Whether a value may hold an error; a replacer slows JSON.stringify down, and most lines hold only strings and numbers. */
function holdsObject(fields: LogFields): boolean {
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'object' && value !== null) return true;
  }
  return false;
}

/** Errors serialise to their name and message: stacks stay out of logs shipped off the box. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** Whether `value` names a level; only the table's own keys do (not `toString` or `constructor`). */
export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(rank, value);
}

/** Milliseconds since `start` (a `performance.now()` reading), to the microsecond: the `durationMs` of log lines. */
export function msSince(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

/**
 * A URL as a log line may show it: a password in its userinfo (`scheme://user:password@host`,
 * which RFC 3986 §3.2.1 deprecates but a Zipkin behind basic auth may need) replaced with `***`.
 */
export function withoutPassword(url: string): string {
  // The userinfo ends at the authority's last `@`, as URL parsers read it (a raw `@` in a password included).
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  if (!scheme) return url;
  const end = url.slice(scheme.length).search(/[/?#]/);
  const authority = end < 0 ? url.slice(scheme.length) : url.slice(scheme.length, scheme.length + end);
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return url;
  return url.slice(0, scheme.length + colon) + ':***' + url.slice(scheme.length + at);
}
