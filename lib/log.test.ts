import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger, isLogLevel, withoutPassword } from './log.ts';

function capture(level: 'debug' | 'info' | 'warn' = 'info') {
  const lines: string[] = [];
  return { lines, log: createLogger({ service: 'svc' }, { level, write: (line) => lines.push(line) }) };
}

describe('the JSON logger', () => {
  it('writes time, level, fixed fields, msg and extra fields in that order, a child adding its own', () => {
    const { lines, log } = capture();
    log.child({ traceId: 't1', spanId: 's1' }).info('request', { status: 200, durationMs: 1.5, skipped: undefined });
    const line = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(line), ['time', 'level', 'service', 'traceId', 'spanId', 'msg', 'status', 'durationMs']);
    assert.deepEqual(line, { time: line.time, level: 'info', service: 'svc', traceId: 't1', spanId: 's1', msg: 'request', status: 200, durationMs: 1.5 });
    assert.ok(!Number.isNaN(Date.parse(line.time)));
  });

  it('writes errors as name and message, nested ones too, never a stack', () => {
    const { lines, log } = capture();
    const error = new TypeError('kaput');
    log.error('failed', { error, details: { cause: new RangeError('deeper') } });
    const line = JSON.parse(lines[0]!);
    assert.deepEqual(line.error, { name: 'TypeError', message: 'kaput' });
    assert.deepEqual(line.details.cause, { name: 'RangeError', message: 'deeper' });
    assert.ok(!lines[0]!.includes('at '), 'no stack');
  });

  it('drops lines below its level, and says which levels it writes', () => {
    const { lines, log } = capture('warn');
    const child = log.child({ traceId: 't' });
    child.debug('d');
    child.info('i');
    child.warn('w');
    assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ['w']);
    assert.deepEqual((['debug', 'info', 'warn', 'error'] as const).map((level) => child.enabled(level)), [false, false, true, true]);
  });

  it('never writes a name twice: a line’s field replaces a fixed one, a child’s its parent’s, and time, level, msg stay the logger’s', () => {
    const { lines, log } = capture();
    const child = log.child({ traceId: 't1', spanId: 's1' });
    log.info('a', { service: 'other' });
    child.child({ spanId: 's2', msg: 'm' }).info('b', { status: 1 });
    child.info('c', { traceId: 't2', time: 'then', level: 'loud', n: 1 });
    child.info('d', { n: 2 }); // and the child's own lines are as before
    /** Each top-level name of a line with flat values, as often as it occurs. */
    const names = (line: string) => [...line.matchAll(/"([^"]+)":(?:"[^"]*"|[^,}]*)/g)].map((m) => m[1]);
    for (const line of lines) assert.equal(new Set(names(line)).size, names(line).length, line);
    const [a, b, c, d] = lines.map((line) => JSON.parse(line));
    assert.equal(a.service, 'other');
    assert.deepEqual([b.service, b.traceId, b.spanId, b.msg, b['fields.msg'], b.status], ['svc', 't1', 's2', 'b', 'm', 1]);
    assert.deepEqual([c.traceId, c.spanId, c.level, c['fields.level'], c['fields.time'], c.n], ['t2', 's1', 'info', 'loud', 'then', 1]);
    assert.notEqual(c.time, 'then');
    assert.deepEqual(Object.keys(d), ['time', 'level', 'service', 'traceId', 'spanId', 'msg', 'n']);
  });

  describe('on standard output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'write.ts');
    writeFileSync(
      script,
      `import { createLogger } from ${JSON.stringify(fileURLToPath(new URL('./log.ts', import.meta.url)))};
const log = createLogger({ service: 'x' });
for (let i = 0; i < 1000; i++) log.info('line', { i });
if (process.argv[2] === 'crash') throw new Error('crash');
process.exit(3);
`,
    );

    for (const ending of ['exit', 'crash']) {
      it(`writes every line, in order, when the process ends by ${ending}`, () => {
        const result = spawnSync(process.execPath, ['--import', 'tsx', script, ending], { encoding: 'utf8' });
        assert.equal(result.status, ending === 'exit' ? 3 : 1);
        const numbers = result.stdout.trim().split('\n').map((line) => JSON.parse(line).i);
        assert.deepEqual(numbers, Array.from({ length: 1000 }, (_, i) => i));
      });
    }
  });
});

describe('withoutPassword', () => {
  it('hides the password of a URL and leaves the rest as written', () => {
    assert.equal(withoutPassword('http://zipkin:s3cr%40t@zipkin.example:9411/base'), 'http://zipkin:***@zipkin.example:9411/base');
    assert.equal(withoutPassword('https://:token@h'), 'https://:***@h');
    assert.equal(withoutPassword('amqps://u:p@h:5671/v?x=a:b@c'), 'amqps://u:***@h:5671/v?x=a:b@c');
    assert.equal(withoutPassword('http://zip:p@ss@127.0.0.1:19413'), 'http://zip:***@127.0.0.1:19413', 'a raw @ in the password');
    for (const url of ['http://127.0.0.1:9411', 'http://user@h/p', 'http://h/p?q=a:b@c', 'http://h/a:b@c']) assert.equal(withoutPassword(url), url);
  });
});

describe('isLogLevel', () => {
  it('accepts the four levels only, not what every object inherits', () => {
    for (const level of ['debug', 'info', 'warn', 'error']) assert.equal(isLogLevel(level), true, level);
    for (const value of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'INFO', 'trace', '']) {
      assert.equal(isLogLevel(value), false, value);
    }
  });
});
