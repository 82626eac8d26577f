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
  const min = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => console.log(line));
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel) => (msg: string, extra?: LogFields) => {
      if (rank[level] < min) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, ...base, msg, ...extra }, errorReplacer));
    };
    return {
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      child: (more) => make({ ...base, ...more }),
    };
  };
  return make(fields);
}

/** Errors serialise to their name and message: stacks stay out of logs shipped off the box. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in rank;
}
