import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  const clock = () => {
    let now = 0;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('allows the floor without calls, then a percentage of the calls', () => {
    const time = clock();
    const budget = new RetryBudget({ percent: 20, minPerSecond: 0.2, windowMs: 10_000 }, time.now);
    // Floor: 0.2 per second over 10 s = 2 retries.
    assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), false, 'the floor is spent');
    for (let i = 0; i < 10; i++) budget.recordCall();
    assert.equal(budget.tryRetry(), true, '10 calls fund 2 retries');
    assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), false, 'refused: 4 retries for 10 calls is over 20 % plus the floor');
    assert.ok(budget.available < 1);
  });

  it('forgets calls and retries once they leave the window', () => {
    const time = clock();
    const budget = new RetryBudget({ percent: 10, minPerSecond: 0, windowMs: 1000 }, time.now);
    for (let i = 0; i < 30; i++) budget.recordCall();
    for (let i = 0; i < 3; i++) assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), false);
    time.advance(500);
    assert.equal(budget.tryRetry(), false, 'still inside the window');
    time.advance(600);
    assert.equal(budget.available, 0, 'the old calls no longer fund retries, the old retries no longer count');
    for (let i = 0; i < 10; i++) budget.recordCall();
    assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), false);
  });

  it('with a zero percentage and floor, refuses every retry', () => {
    const budget = new RetryBudget({ percent: 0, minPerSecond: 0, windowMs: 1000 });
    for (let i = 0; i < 100; i++) budget.recordCall();
    assert.equal(budget.tryRetry(), false);
  });
});
