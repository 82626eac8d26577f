import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultRetryBudgetSettings, RetryBudget } from './retry-budget.ts';

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

  it('counts a call for a whole window, its first bucket to its last, and not a millisecond more', () => {
    const time = clock();
    // 1 s window: ten buckets of 100 ms.
    const budget = new RetryBudget({ percent: 10, minPerSecond: 0, windowMs: 1000 }, time.now);
    time.advance(250); // inside the third bucket (200..299)
    for (let i = 0; i < 10; i++) budget.recordCall();
    assert.equal(budget.available, 1);
    time.advance(949); // 1199: the last bucket of the window that starts with the call's
    assert.equal(budget.available, 1, 'the oldest bucket still counts');
    time.advance(1); // 1200: the call's bucket has left the window
    assert.equal(budget.available, 0, 'gone from the window');
    for (let i = 0; i < 10; i++) budget.recordCall();
    assert.equal(budget.available, 1, 'the reused bucket starts from nothing');
    time.advance(999); // 2199
    assert.equal(budget.tryRetry(), true, 'the calls at 1200 still fund a retry');
    assert.equal(budget.available, 0);
    time.advance(100); // 2299: the retry stays in the window, the calls have left
    assert.equal(budget.available, -1, 'a retry counts for the window, as a call does');
    time.advance(900); // 3199: the retry leaves too
    assert.equal(budget.available, 0);
  });

  it('by default allows 3 retries a second over 10 s, plus 20 % of the calls', () => {
    const time = clock();
    const budget = new RetryBudget(defaultRetryBudgetSettings, time.now);
    for (let i = 0; i < 30; i++) assert.equal(budget.tryRetry(), true, `floor retry ${i + 1}`);
    assert.equal(budget.tryRetry(), false, 'the floor is spent');
    for (let i = 0; i < 5; i++) budget.recordCall();
    assert.equal(budget.tryRetry(), true, '5 calls fund 1 retry');
    assert.equal(budget.tryRetry(), false);
    time.advance(9_999);
    assert.equal(budget.tryRetry(), false, 'all of it still inside the 10 s window');
    time.advance(1);
    assert.equal(budget.available, 30, 'the calls and retries of the first second have left the window: the floor is whole again');
  });
});
