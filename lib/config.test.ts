import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, envReader } from './config.ts';

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

  for (const [name, value, read] of [
    ['PORT', '70000', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
    ['PORT', '80a', (e: ReturnType<typeof envReader>) => e.port('PORT', 1)],
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
