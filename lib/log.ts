/**
 * JSON-lines logging. A logger carries fixed fields (service, and per request the
 * trace and span ids), so every line written while handling a request can be
 * joined with its trace.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields`. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where finished lines go; defaults to standard output. */
  write?: (line: string) => void;
}

export function createLogger(fields: LogFields, options: LoggerOptions = {}): Logger {
  return new JsonLogger(undefined, fields, rank[options.level ?? 'info'], options.write ?? ((line: string) => console.log(line)));
}

/**
 * A child keeps a link to its parent and merges fields only when it writes a line:
 * every request gets a logger, few of them log.
 */
class JsonLogger implements Logger {
  constructor(
    readonly parent: JsonLogger | undefined,
    readonly fields: LogFields,
    readonly min: number,
    readonly write: (line: string) => void,
  ) {}

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
  child(fields: LogFields): Logger {
    return new JsonLogger(this, fields, this.min, this.write);
  }

  #allFields(): LogFields {
    return this.parent ? { ...this.parent.#allFields(), ...this.fields } : this.fields;
  }

  #emit(level: LogLevel, msg: string, extra?: LogFields): void {
    if (rank[level] < this.min) return;
    const line = { time: new Date().toISOString(), level, ...this.#allFields(), msg, ...extra };
    this.write(JSON.stringify(line, errorReplacer));
  }
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
