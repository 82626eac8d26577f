/**
 * accountservice: an account from LMDB, with a quote from quotes-service and an image
 * from imageservice; reading the VIP account notifies vipservice through RabbitMQ.
 */
import { headAnswer, isHead } from '../../lib/head.ts';
import { resilienceFromEnv, ServiceClient } from '../../lib/http-client.ts';
import { instanceName } from '../../lib/instance.ts';
import type { Logger } from '../../lib/log.ts';
import { Broker, queueFromEnv } from '../../lib/messaging.ts';
import { Outbox } from '../../lib/outbox.ts';
import { runService, type ServiceApp } from '../../lib/service.ts';
import { openStore, storeProblem, storeWriteProblem } from '../../lib/storage.ts';
import type { Span } from '../../lib/tracing/span.ts';
import {
  AccountStore,
  IMAGE_FALLBACK,
  isAccountId,
  QUOTE_FALLBACK,
  VIP_ACCOUNT_ID,
  type Account,
  type ImageData,
  type Quote,
} from './accounts.ts';
import { PLACEHOLDER_PATH, placeholderJpeg } from './placeholder.ts';

await runService({
  name: 'accountservice',
  defaultPort: 6767,
  setup: async ({ env, log, tracing }) => {
    const quotesUrl = env.url('QUOTES_SERVICE_URL', 'http://127.0.0.1:8080');
    const imagesUrl = env.url('IMAGE_SERVICE_URL', 'http://127.0.0.1:7777');
    const amqpUrl = env.url('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp:', 'amqps:']);
    const dataDir = env.string('DATA_DIR', '.data/accountservice');
    // Links in answers (the placeholder image) point here as the caller reached us, unless told otherwise.
    const publicUrl = env.optionalUrl('PUBLIC_URL');
    const vipQueue = queueFromEnv(env, 'VIP_QUEUE', 'vip_queue');
    // The CPU work each quote asks of quotes-service (4, the original's, is ~0.4 ms; it accepts up to 1000).
    const quoteStrength = env.integer('QUOTE_STRENGTH', 4, { min: 0, max: 1000 });

    const store = openStore(dataDir, 'DATA_DIR', log);
    const accounts = new AccountStore(store);
    const added = await accounts.seed();
    log.info('accounts ready', { dataDir, added });

    const broker = new Broker({ url: amqpUrl, log, tracing, publishesTo: [vipQueue], queueSetting: 'VIP_QUEUE' });
    const resilience = resilienceFromEnv(env);
    const client = <T>(service: string, baseUrl: string, fallback: T) =>
      new ServiceClient<T>({ service, baseUrl, fallback: () => fallback, log, ...resilience });
    const quotes = client<Quote>('quotes-service', quotesUrl, QUOTE_FALLBACK);
    const images = client<ImageData>('imageservice', imagesUrl, IMAGE_FALLBACK);
    const outbox = new Outbox({ store, broker, queue: vipQueue, log });
    const servedBy = instanceName();
    const placeholder = placeholderJpeg();

    const notifyVip = async (accountId: string, span: Span, requestLog: Logger, window: Promise<unknown>) => {
      try {
        await outbox.enqueue({ accountId, readAt: new Date().toISOString() }, span, { window });
        span.annotate('Sent VIP message');
      } catch (error) {
        requestLog.error('VIP notification not recorded', { error });
        span.annotate('VIP message not recorded');
      }
    };

    const routes = (app: ServiceApp) => {
      app.get(PLACEHOLDER_PATH, (c) =>
        c.body(placeholder, 200, { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=86400' }),
      );

      // The second path is the public one the edge routes, served as is so any ingress works unchanged.
      for (const path of ['/accounts/:accountId', '/api/accounts/:accountId']) {
        app.get(path, async (c) => {
          const id = c.req.param('accountId') ?? '';
          if (!isAccountId(id)) return c.json({ error: 'accountId must be 1 to 10 digits' }, 400);
          // c.get, not c.var: c.var copies every variable into a new object on each read.
          const span = c.get('span');
          const stored = accounts.get(id, span);
          if (!stored) return c.json({ error: `no account ${id}` }, 404);
          // A HEAD learns whether the account exists; the quote, the image and the VIP notification are the GET's.
          if (isHead(c)) return headAnswer(c, 'application/json');

          // The notification is committed to the outbox alongside the downstream calls:
          // the answer never waits for the broker, and never goes out before the
          // notification is safe on disk. The PRODUCER span waits for the broker's
          // confirm only while the downstream calls run.
          const quote = quotes.fetchJson(`/api/quote?strength=${quoteStrength}`, span, 'getquote');
          const image = images.fetchJson(`/accounts/${id}`, span, 'getimageurl');
          const notified = id === VIP_ACCOUNT_ID ? notifyVip(id, span, c.get('log'), Promise.allSettled([quote, image])) : undefined;
          const [quoteData, imageData] = await Promise.all([quote, image, notified]);
          // Written out: on Node 20 a spread followed by more properties costs some 4 µs here (BENCHMARKS.md, Findings).
          const account: Account = {
            id: stored.id,
            name: stored.name,
            servedBy,
            quote: quoteData,
            imageData:
              imageData === IMAGE_FALLBACK ? { ...imageData, url: `${publicUrl ?? new URL(c.req.url).origin}${imageData.url}` } : imageData,
          };
          return c.json(account);
        });
      }
    };

    return {
      routes,
      checks: {
        lmdb: () => storeProblem(store),
        lmdbWrites: () => storeWriteProblem(store),
        broker: () => broker.problem,
      },
      // Accounts are answered while the broker is away: notifications wait in the outbox.
      readiness: ['lmdb'],
      details: () => ({
        breakers: { 'quotes-service': quotes.state, imageservice: images.state },
        outbox: { pending: outbox.size },
      }),
      close: async ({ deadline }) => {
        // At most 2 s, and never past the stop's deadline: a SHUTDOWN_TIMEOUT_MS shorter than the flush
        // would otherwise end the stop with exit 1 and without the line saying what the outbox keeps.
        await outbox.flush({ timeoutMs: Math.max(0, Math.min(2000, deadline - Date.now())) });
        // Closing the connection ends a send still awaiting its confirm, which closing the outbox waits for.
        const outboxClosed = outbox.close();
        await broker.close();
        await outboxClosed;
        quotes.close();
        images.close();
        await store.close();
      },
    };
  },
});
