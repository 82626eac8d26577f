import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { describe, it } from 'node:test';
import { KEEP_ALIVE_TIMEOUT_MS, listen } from './server.ts';

const ok = () => new Response('ok');

describe('listen', () => {
  it('listens on loopback unless told otherwise', async () => {
    const server = await listen(ok, 0);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${server.port}/`)).text(), 'ok');
    } finally {
      await server.close();
    }
  });

  it('keeps idle connections longer than clients do, and says so', async () => {
    const server = await listen(ok, 0);
    const agent = new Agent({ keepAlive: true });
    try {
      const header = await new Promise<string | undefined>((resolve, reject) => {
        get({ host: '127.0.0.1', port: server.port, agent }, (response) => {
          response.resume();
          resolve(String(response.headers['keep-alive']));
        }).once('error', reject);
      });
      assert.equal(header, `timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}`);
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const first = await listen(ok, 0);
    try {
      await assert.rejects(listen(ok, first.port), (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE');
    } finally {
      await first.close();
    }
  });
});
