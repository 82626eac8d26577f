import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, isLogLevel, type LogLevel } from './log.ts';

function capture(level?: LogLevel) {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ service: 'svc' }, { level, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe('isLogLevel', () => {
  it('accepts the four levels only, not what every object inherits', () => {
    for (const level of ['debug', 'info', 'warn', 'error']) assert.equal(isLogLevel(level), true, level);
    for (const value of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'INFO', 'trace', '']) {
      assert.equal(isLogLevel(value), false, value);
    }
  });
});

describe('createLogger', () => {
  it('writes one JSON line per call at or above its level, with its fields', () => {
    const { log, lines } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('w', { n: 1 });
    log.error('e');
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.service]), [['warn', 'w', 'svc'], ['error', 'e', 'svc']]);
    assert.equal(lines[0]!.n, 1);
    assert.ok(!Number.isNaN(Date.parse(String(lines[0]!.time))));
  });

  it('logs from info up by default, and everything at debug', () => {
    const quiet = capture();
    quiet.log.debug('hidden');
    quiet.log.info('shown');
    assert.deepEqual(quiet.lines.map((l) => l.msg), ['shown']);
    const loud = capture('debug');
    loud.log.debug('shown');
    assert.deepEqual(loud.lines.map((l) => l.msg), ['shown']);
  });

  it("lets a child's fields and a line's own fields win over its parent's", () => {
    const { log, lines } = capture();
    const child = log.child({ traceId: 't1', service: 'child' });
    const grandchild = child.child({ spanId: 's1' });
    grandchild.info('x', { spanId: 'own' });
    log.info('parent');
    assert.deepEqual(lines[0], { time: lines[0]!.time, level: 'info', service: 'child', traceId: 't1', spanId: 'own', msg: 'x' });
    assert.deepEqual(Object.keys(lines[1]!), ['time', 'level', 'service', 'msg'], 'the parent is untouched');
  });

  it('writes errors as name and message, without their stack', () => {
    const { log, lines } = capture();
    log.error('failed', { error: new TypeError('bad thing') });
    assert.deepEqual(lines[0]!.error, { name: 'TypeError', message: 'bad thing' });
  });
});
