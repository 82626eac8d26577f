import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, envReader } from './config.ts';
import { resilienceFromEnv } from './http-client.ts';

describe('resilienceFromEnv', () => {
  it('gives the defaults when nothing is set', () => {
    assert.deepEqual(resilienceFromEnv(envReader({})), {
      retry: { attempts: 3, delayMs: 20, attemptTimeoutMs: 1000, deadlineMs: 2500 },
      retryBudget: { percent: 20, minPerSecond: 3, windowMs: 10_000 },
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 5000, windowMs: 10_000 },
    });
  });

  it('reads every setting from its variable', () => {
    const env = {
      RETRY_ATTEMPTS: '5',
      RETRY_DELAY_MS: '7',
      RETRY_ATTEMPT_TIMEOUT_MS: '300',
      RETRY_DEADLINE_MS: '900',
      RETRY_BUDGET_PERCENT: '12.5',
      RETRY_BUDGET_MIN_PER_SECOND: '0.5',
      RETRY_BUDGET_WINDOW_MS: '2000',
      BREAKER_ERROR_PERCENTAGE: '75',
      BREAKER_VOLUME_THRESHOLD: '0',
      BREAKER_RESET_TIMEOUT_MS: '250',
      BREAKER_WINDOW_MS: '3000',
    };
    assert.deepEqual(resilienceFromEnv(envReader(env)), {
      retry: { attempts: 5, delayMs: 7, attemptTimeoutMs: 300, deadlineMs: 900 },
      retryBudget: { percent: 12.5, minPerSecond: 0.5, windowMs: 2000 },
      breaker: { errorThresholdPercentage: 75, volumeThreshold: 0, resetTimeoutMs: 250, windowMs: 3000 },
    });
  });

  // Each variable with values just outside its range; an integer setting also refuses a fraction.
  const refused: Array<[string, string[]]> = [
    ['RETRY_ATTEMPTS', ['0', '11', '2.5']],
    ['RETRY_DELAY_MS', ['-1', '10001', '1.5']],
    ['RETRY_ATTEMPT_TIMEOUT_MS', ['0', '60001', '1.5']],
    ['RETRY_DEADLINE_MS', ['0', '120001', '1.5']],
    ['RETRY_BUDGET_PERCENT', ['-1', '100.5', 'x']],
    ['RETRY_BUDGET_MIN_PER_SECOND', ['-0.5', '1000.5', 'x']],
    ['RETRY_BUDGET_WINDOW_MS', ['99', '600001', '150.5']],
    ['BREAKER_ERROR_PERCENTAGE', ['0.5', '100.5', 'x']],
    ['BREAKER_VOLUME_THRESHOLD', ['-1', '2.5']],
    ['BREAKER_RESET_TIMEOUT_MS', ['0', '2.5']],
    ['BREAKER_WINDOW_MS', ['99', '150.5']],
  ];
  for (const [name, values] of refused) {
    it(`refuses ${name} out of its range, naming it`, () => {
      for (const value of values) {
        assert.throws(
          () => resilienceFromEnv(envReader({ [name]: value })),
          (error: unknown) => error instanceof ConfigError && error.variable === name,
          `${name}=${value}`,
        );
      }
    });
  }

  it('takes each range\'s bounds', () => {
    const low = resilienceFromEnv(envReader({
      RETRY_ATTEMPTS: '1', RETRY_DELAY_MS: '0', RETRY_ATTEMPT_TIMEOUT_MS: '1', RETRY_DEADLINE_MS: '1',
      RETRY_BUDGET_PERCENT: '0', RETRY_BUDGET_MIN_PER_SECOND: '0', RETRY_BUDGET_WINDOW_MS: '100',
      BREAKER_ERROR_PERCENTAGE: '1', BREAKER_VOLUME_THRESHOLD: '0', BREAKER_RESET_TIMEOUT_MS: '1', BREAKER_WINDOW_MS: '100',
    }));
    assert.deepEqual(low, {
      retry: { attempts: 1, delayMs: 0, attemptTimeoutMs: 1, deadlineMs: 1 },
      retryBudget: { percent: 0, minPerSecond: 0, windowMs: 100 },
      breaker: { errorThresholdPercentage: 1, volumeThreshold: 0, resetTimeoutMs: 1, windowMs: 100 },
    });
    const high = resilienceFromEnv(envReader({
      RETRY_ATTEMPTS: '10', RETRY_DELAY_MS: '10000', RETRY_ATTEMPT_TIMEOUT_MS: '60000', RETRY_DEADLINE_MS: '120000',
      RETRY_BUDGET_PERCENT: '100', RETRY_BUDGET_MIN_PER_SECOND: '1000', RETRY_BUDGET_WINDOW_MS: '600000',
      BREAKER_ERROR_PERCENTAGE: '100',
    }));
    assert.deepEqual([high.retry, high.retryBudget, high.breaker.errorThresholdPercentage], [
      { attempts: 10, delayMs: 10_000, attemptTimeoutMs: 60_000, deadlineMs: 120_000 },
      { percent: 100, minPerSecond: 1000, windowMs: 600_000 },
      100,
    ]);
  });
});
