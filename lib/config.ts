/**
 * Reading configuration from the environment. Every reader validates its variable and
 * throws a ConfigError that names it, so a bad value stops a service at start with a
 * message a person can act on.
 */
import process from 'node:process';

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** The longest delay `setTimeout` and `setInterval` take, in ms (2^31 − 1, HTML's timer steps; Node's TIMEOUT_MAX). */
export const MAX_TIMER_MS = 2_147_483_647;

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** Typed readers over an environment (the process's by default). Empty counts as unset. */
export function envReader(env: Env = process.env) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const number = (name: string, fallback: number, { min = -Infinity, max = Infinity, integer = false } = {}) => {
    const value = raw(name);
    if (value === undefined) return fallback;
    // Decimal notation only: Number() would also take "0x50", "1e3" and "8080.0".
    const n = (integer ? INTEGER : DECIMAL).test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      const kind = integer ? 'an integer' : 'a number';
      throw new ConfigError(name, `expected ${kind} from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
  const reader = {
    string: (name: string, fallback: string) => raw(name) ?? fallback,
    number,
    integer: (name: string, fallback: number, range: { min?: number; max?: number } = {}) =>
      number(name, fallback, { ...range, integer: true }),
    /**
     * A duration in whole milliseconds for a timer, at most `MAX_TIMER_MS` whatever `max` says:
     * Node and Deno run a longer `setTimeout` after 1 ms instead.
     */
    milliseconds: (name: string, fallback: number, { min = 0, max = MAX_TIMER_MS }: { min?: number; max?: number } = {}) =>
      number(name, fallback, { min, max: Math.min(max, MAX_TIMER_MS), integer: true }),
    port: (name: string, fallback: number) => number(name, fallback, { min: 0, max: 65535, integer: true }),
    boolean: (name: string, fallback: boolean) => {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      throw new ConfigError(name, `expected true or false, got ${JSON.stringify(value)}`);
    },
    /** An absolute URL with one of the given schemes; trailing slashes are dropped. */
    url: (name: string, fallback: string, schemes: string[] = ['http:', 'https:']) => {
      const value = raw(name) ?? fallback;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new ConfigError(name, `expected an absolute URL, got ${JSON.stringify(value)}`);
      }
      if (!schemes.includes(url.protocol)) {
        throw new ConfigError(name, `expected a ${schemes.join(' or ')} URL, got ${JSON.stringify(value)}`);
      }
      return value.replace(/\/+$/, '');
    },
    /** Like `url`, for a setting without a default: undefined when unset. */
    optionalUrl: (name: string, schemes?: string[]): string | undefined =>
      raw(name) === undefined ? undefined : reader.url(name, '', schemes),
    oneOf: <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
      const value = raw(name) ?? fallback;
      if (!(allowed as readonly string[]).includes(value)) {
        throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
      }
      return value as T;
    },
  };
  return reader;
}

export type EnvReader = ReturnType<typeof envReader>;
