/**
 * A W3C Trace Context test service, built on the landscape's own middleware and traced
 * client, for the official test harness (w3c/trace-context, `test/`). The harness POSTs a
 * JSON array of `{url, arguments}`; for each entry the service POSTs `arguments` to `url`,
 * carrying the trace context on.
 *
 *   npm run conformance:w3c                 # listens on :5000 (PORT to change)
 *   python3 test.py http://127.0.0.1:5000/test
 */
import { ServiceClient } from '../lib/http-client.ts';
import { runService } from '../lib/service.ts';

interface Instruction {
  url: string;
  arguments: unknown;
}

function isInstructions(body: unknown): body is Instruction[] {
  return Array.isArray(body) && body.every((item) => typeof item?.url === 'string' && URL.canParse(item.url));
}

await runService({
  name: 'w3c-conformance',
  defaultPort: 5000,
  setup: ({ log }) => {
    const harness = new ServiceClient<unknown>({
      service: 'w3c-harness',
      baseUrl: 'http://127.0.0.1',
      fallback: () => null,
      log,
      // The harness answers every call; a breaker opening between its cases would only confuse it.
      retry: { attempts: 1 },
      breaker: { volumeThreshold: Number.MAX_SAFE_INTEGER },
    });
    return {
      routes(app) {
        app.post('/test', async (c) => {
          const body: unknown = await c.req.json().catch(() => undefined);
          if (!isInstructions(body)) return c.json({ error: 'expected a JSON array of {"url","arguments"}' }, 400);
          for (const { url, arguments: args } of body) {
            await harness.fetchJson(url, c.var.span, 'callback', { method: 'POST', json: args });
          }
          return c.json({ calls: body.length });
        });
      },
      close: async () => harness.close(),
    };
  },
});
