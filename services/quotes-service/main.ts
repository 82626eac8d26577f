/** quotes-service: a quote per request; `strength` burns CPU to make latency visible. */
import { headAnswer, isHead } from '../../lib/head.ts';
import { instanceName } from '../../lib/instance.ts';
import { runService } from '../../lib/service.ts';
import { burnCpu, parseStrength, pickQuote } from './quotes.ts';

await runService({
  name: 'quotes-service',
  defaultPort: 8080,
  setup: ({ address: own }) => {
    // The address its spans carry: the pod's (either family), else the host's.
    const address = own.ipv4 ?? own.ipv6 ?? instanceName();
    return {
      routes(app) {
        app.get('/api/quote', (c) => {
          const strength = parseStrength(c.req.query('strength'));
          if (typeof strength !== 'number') return c.json({ error: strength.error }, 400);
          // The CPU a quote burns is the GET's.
          if (isHead(c)) return headAnswer(c, 'application/json');
          if (strength > 0) {
            c.get('span').trace('burn-cpu', (span) => {
              span.tag('strength', strength);
              burnCpu(strength);
            });
          }
          return c.json(pickQuote(address));
        });
      },
    };
  },
});
