/**
 * HEAD on the real services, on Node and on Deno: the status and header fields of the GET
 * (content-length where the GET's is known without making the content), no body, and none
 * of the GET's side effects or work (no downstream call, no VIP notification, no CPU burnt,
 * no image toned).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICES, type ServiceName } from '../tools/landscape.ts';
import { until } from '../tools/wait.ts';
import { isCompleteAccountTrace, service, startTestLandscape, traceIdOf, waitForTrace, type TestLandscape } from './support.ts';

/** Header fields that differ between any two answers, or that only framing decides. */
const PER_ANSWER = new Set(['date', 'traceresponse', 'content-length', 'connection', 'keep-alive', 'transfer-encoding']);

/** [service, path, whether HEAD knows the GET's content-length] */
const ROUTES: Array<[ServiceName, string, boolean]> = [
  ['accountservice', '/accounts/10001', false],
  ['accountservice', '/api/accounts/10002', false],
  ['accountservice', '/accounts/abc', true],
  ['accountservice', '/accounts/99999', true],
  ['accountservice', '/health', true],
  ['accountservice', '/health/ready', true],
  ['quotes-service', '/api/quote?strength=3', false],
  ['quotes-service', '/api/quote?strength=abc', true],
  ['quotes-service', '/health/live', true],
  ['imageservice', '/accounts/10001', true],
  ['imageservice', '/file/ocean.jpg', false],
  ['imageservice', '/file/nothing.jpg', true],
  ['imageservice', '/image', true],
  ['vipservice', '/health', true],
  ['vipservice', '/nowhere', true],
];

const fields = (response: Response) =>
  Object.fromEntries([...response.headers].filter(([name]) => !PER_ANSWER.has(name)).sort(([a], [b]) => a.localeCompare(b)));

for (const runtime of ['node', 'deno'] as const) {
  describe(`HEAD on ${runtime}`, () => {
    let landscape: TestLandscape;
    const url = (name: ServiceName, path: string) => `${landscape.services[name].url}${path}`;

    before(async () => {
      landscape = await startTestLandscape(runtime);
      // Listening comes before the broker connection: compare answers once every /health is UP.
      for (const name of SERVICES) {
        await until(async () => (await fetch(url(name, '/health'))).status === 200, 15_000, `${name} to be UP`);
      }
    });
    after(() => landscape?.close());

    it('answers with the status and header fields of the GET, and no body', async (t) => {
      const seen: string[] = [];
      for (const [name, path, lengthKnown] of ROUTES) {
        const get = await fetch(url(name, path));
        const getBytes = (await get.arrayBuffer()).byteLength;
        const head = await fetch(url(name, path), { method: 'HEAD' });
        const headBytes = (await head.arrayBuffer()).byteLength;
        const what = `HEAD ${name}${path}`;
        assert.equal(head.status, get.status, what);
        assert.deepEqual(fields(head), fields(get), what);
        assert.equal(headBytes, 0, `${what}: no body`);
        // Health and probe routes answer untraced (lib/service.ts), HEAD or GET; every other route is traced.
        assert.equal(head.headers.has('traceresponse'), !path.startsWith('/health'), `${what}: traced unless a probe route`);
        const length = head.headers.get('content-length');
        if (lengthKnown) assert.equal(length, String(getBytes), `${what}: the GET's content-length`);
        else assert.equal(length, null, `${what}: no content-length, rather than a wrong one`);
        seen.push(`${name}${path} ${head.status} ${length ?? '-'}`);
      }
      t.diagnostic(seen.join('; '));
    });

    it('has none of the GET\'s side effects or work', async () => {
      const heads = await Promise.all(
        [
          ['accountservice', '/accounts/10000'],
          ['quotes-service', '/api/quote?strength=50'],
          ['imageservice', '/file/forest.jpg'],
        ].map(async ([name, path]) => {
          const response = await fetch(url(name as ServiceName, path!), { method: 'HEAD' });
          assert.equal(response.status, 200);
          return traceIdOf(response);
        }),
      );
      // A sampled VIP GET after them: once its consumer span is in, anything the HEADs set off would be too.
      const barrier = await fetch(url('accountservice', '/accounts/10000'));
      await barrier.body?.cancel();
      await waitForTrace(landscape.collector.url, traceIdOf(barrier), (s) => isCompleteAccountTrace(s, true));
      const [vip, quote, image] = await Promise.all(
        heads.map((traceId) => waitForTrace(landscape.collector.url, traceId, (s) => s.some((x) => x.kind === 'SERVER'))),
      );
      const names = (spans: typeof vip) => spans!.map((s) => `${service(s)}:${s.kind ?? 'LOCAL'}:${s.name}`).sort();
      assert.deepEqual(names(vip), ['accountservice:LOCAL:queryaccount', 'accountservice:SERVER:head /accounts/:accountid']);
      assert.deepEqual(names(quote), ['quotes-service:SERVER:head /api/quote']);
      assert.deepEqual(names(image), ['imageservice:SERVER:head /file/:filename']);
      const notified = landscape.logs.filter((l) => l.json?.msg === 'VIP notification received' && l.json.traceId === heads[0]);
      assert.deepEqual(notified, [], 'no VIP notification for a HEAD');
    });
  });
}
