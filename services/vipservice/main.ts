/** vipservice: consumes VIP notifications from RabbitMQ, each in a CONSUMER span continuing the reader's trace. */
import { Broker } from '../../lib/messaging.ts';
import { runService } from '../../lib/service.ts';
import { handleVipNotification } from './notifications.ts';

await runService({
  name: 'vipservice',
  defaultPort: 6868,
  setup: ({ env, log, tracing }) => {
    const broker = new Broker({
      url: env.url('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp:', 'amqps:']),
      log,
      tracing,
      consumers: [{ queue: env.string('VIP_QUEUE', 'vip_queue'), handle: handleVipNotification() }],
    });
    return {
      routes() {},
      checks: { broker: () => (broker.connected ? undefined : 'not connected to RabbitMQ') },
      close: () => broker.close(),
    };
  },
});
