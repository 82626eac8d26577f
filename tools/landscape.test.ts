import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toolSettings } from './landscape.ts';

describe('toolSettings', () => {
  it('prefixes the settings the local tools read, in a fixed order, quoted where the shell needs it', () => {
    assert.equal(toolSettings({}), '');
    assert.equal(toolSettings({ PATH: '/bin', ZIPKIN_PORT: '' }), '', 'only set ones, only the tools’');
    assert.equal(
      toolSettings({ ZIPKIN_URL: 'http://zipkin.local:9411/', ACCOUNTSERVICE_PORT: '16767', ZIPKIN_PORT: '19411' }),
      'ACCOUNTSERVICE_PORT=16767 ZIPKIN_PORT=19411 ZIPKIN_URL=http://zipkin.local:9411/ ',
    );
    assert.equal(toolSettings({ ZIPKIN_URL: "http://h/a b'c" }), `ZIPKIN_URL='http://h/a b'\\''c' `);
  });
});
