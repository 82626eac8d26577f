import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, envReader, MAX_TIMER_MS } from './config.ts';

describe('envReader', () => {
  it('uses defaults for unset and empty variables', () => {
    const env = envReader({ EMPTY: '  ' });
    assert.equal(env.port('PORT', 8080), 8080);
    assert.equal(env.number('EMPTY', 0.5), 0.5);
    assert.equal(env.url('ZIPKIN_URL', 'http://127.0.0.1:9411/'), 'http://127.0.0.1:9411');
    assert.equal(env.boolean('FLAG', false), false);
    assert.equal(env.optionalUrl('PUBLIC_URL'), undefined);
    assert.equal(env.optionalUrl('EMPTY'), undefined);
  });

  it('reads valid values', () => {
    const env = envReader({ PORT: '0', RATE: '0.1', FLAG: 'TRUE', URL: 'amqps://u:p@h:5671/v' });
    assert.equal(env.port('PORT', 1), 0);
    assert.equal(env.number('RATE', 1, { min: 0, max: 1 }), 0.1);
    assert.equal(env.boolean('FLAG', false), true);
    assert.equal(env.url('URL', 'amqp://x', ['amqp:', 'amqps:']), 'amqps://u:p@h:5671/v');
    assert.equal(envReader({ PUBLIC_URL: 'https://shop.example/' }).optionalUrl('PUBLIC_URL'), 'https://shop.example');
  });

  it('reads numbers in decimal notation only', () => {
    const env = envReader({ A: '+5', B: '-0', C: '.5', D: '2.', E: ' 42 ' });
    assert.equal(env.integer('A', 0), 5);
    assert.equal(env.integer('B', 1), -0);
    assert.equal(env.number('C', 0), 0.5);
    assert.equal(env.number('D', 0), 2);
    assert.equal(env.integer('E', 0), 42);
  });

  it('reads durations up to the longest delay a timer takes', () => {
    assert.equal(envReader({ T: String(MAX_TIMER_MS) }).milliseconds('T', 1), MAX_TIMER_MS);
    assert.equal(envReader({}).milliseconds('T', 250), 250);
    assert.throws(() => envReader({ T: String(MAX_TIMER_MS + 1) }).milliseconds('T', 1), /^ConfigError: T: expected an integer from 0 to 2147483647, got "2147483648"$/);
    assert.throws(() => envReader({ T: '100' }).milliseconds('T', 1000, { min: 200, max: 1e12 }), /from 200 to 2147483647/);
  });

  for (const [name, value, read] of [
    ['PORT', '70000', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
    ['PORT', '80a', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
    ['PORT', '0x50', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
    ['PORT', '8080.0', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
    ['IMAGE_QUEUE', '1e3', (e: ReturnType<typeof envReader>) => e.integer('IMAGE_QUEUE', 8, { min: 0 })],
    ['TRACING_SAMPLE_RATE', '1e-1', (e: ReturnType<typeof envReader>) => e.number('TRACING_SAMPLE_RATE', 1, { min: 0, max: 1 })],
    ['TRACING_SAMPLE_RATE', 'Infinity', (e: ReturnType<typeof envReader>) => e.number('TRACING_SAMPLE_RATE', 1)],
    ['SHUTDOWN_TIMEOUT_MS', '3000000000', (e: ReturnType<typeof envReader>) => e.milliseconds('SHUTDOWN_TIMEOUT_MS', 10_000)],
    ['TRACING_SAMPLE_RATE', '1.5', (e: ReturnType<typeof envReader>) => e.number('TRACING_SAMPLE_RATE', 1, { min: 0, max: 1 })],
    ['TRACING_SAMPLE_RATE', 'half', (e: ReturnType<typeof envReader>) => e.number('TRACING_SAMPLE_RATE', 1, { min: 0, max: 1 })],
    ['ZIPKIN_URL', 'not a url', (e: ReturnType<typeof envReader>) => e.url('ZIPKIN_URL', 'http://x')],
    ['PUBLIC_URL', '/relative', (e: ReturnType<typeof envReader>) => e.optionalUrl('PUBLIC_URL')],
    ['AMQP_URL', 'http://rabbit', (e: ReturnType<typeof envReader>) => e.url('AMQP_URL', 'amqp://x', ['amqp:'])],
    ['TESTABILITY_ENABLED', 'yes', (e: ReturnType<typeof envReader>) => e.boolean('TESTABILITY_ENABLED', false)],
  ] as const) {
    it(`rejects ${name}=${value} naming the variable`, () => {
      assert.throws(
        () => read(envReader({ [name]: value })),
        (error: unknown) => error instanceof ConfigError && error.variable === name && error.message.startsWith(`${name}: `),
      );
    });
  }
});
