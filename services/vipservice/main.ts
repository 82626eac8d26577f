/** vipservice: consumes VIP notifications from RabbitMQ, each in a CONSUMER span continuing the reader's trace. */
import { Inbox } from '../../lib/inbox.ts';
import { Broker, queueFromEnv } from '../../lib/messaging.ts';
import { runService } from '../../lib/service.ts';
import { openStore, storeProblem, storeWriteProblem } from '../../lib/storage.ts';
import { handleVipNotification } from './notifications.ts';

await runService({
  name: 'vipservice',
  defaultPort: 6868,
  setup: ({ env, log, tracing }) => {
    const amqpUrl = env.url('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp:', 'amqps:']);
    const vipQueue = queueFromEnv(env, 'VIP_QUEUE', 'vip_queue');
    const dataDir = env.string('DATA_DIR', '.data/vipservice');

    // The ids of handled notifications outlive this process: a redelivery after a restart is recognised.
    const store = openStore(dataDir, 'DATA_DIR', log);
    const inbox = new Inbox({ store });
    log.info('inbox ready', { dataDir, remembered: inbox.size });
    const broker = new Broker({
      url: amqpUrl,
      log,
      tracing,
      consumers: [{ queue: vipQueue, handle: handleVipNotification({ inbox }) }],
      queueSetting: 'VIP_QUEUE',
    });
    return {
      routes() {},
      checks: {
        lmdb: () => storeProblem(store),
        lmdbWrites: () => storeWriteProblem(store),
        broker: () => broker.problem,
      },
      close: async () => {
        await broker.close();
        await store.close();
      },
    };
  },
});
