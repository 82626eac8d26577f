/**
 * What is wrong with a service's link to RabbitMQ, per part (the connection, each queue),
 * in RabbitMQ's own words: shown in `/health`, logged once when it starts or changes and
 * once when it ends, never once per retry.
 */
import type { LogFields, Logger } from './log.ts';

/** One problem: the log line (`msg` and fields) and the text `/health` shows. */
export interface Condition {
  msg: string;
  /** For `/health`: what is wrong, briefly. */
  problem: string;
  /** The AMQP operation that failed, in the protocol's terms (`queue.declare`, `basic.consume`...). */
  operation: string;
  queue?: string;
  /** The broker's reason (its reply text), or the network's. */
  reason: string;
  [field: string]: unknown;
}

/** The current problems of one broker link, keyed by part (`connection`, `publish <queue>`...). */
export class BrokerConditions {
  readonly #log: Logger;
  readonly #holdMs: number;
  readonly #current = new Map<string, Condition & { recurring?: boolean }>();
  /** The problem each part had last, since when it is over, and the line saying so if that line waits (see `clear`). */
  readonly #ended = new Map<string, { problem: string; at: number; line?: ReturnType<typeof setTimeout> }>();

  /**
   * `holdMs`: how long a part must stay well for its problem to count as over. The same problem
   * back within it (a channel the broker closes again as soon as it is used) is the same outage,
   * not a new one: logged at debug, its end logged once it has held.
   */
  constructor(log: Logger, { holdMs = 0 }: { holdMs?: number } = {}) {
    this.#log = log;
    this.#holdMs = holdMs;
  }

  /** Records what is wrong with `part`; logs it at warn level unless the same problem is already known, or back within `holdMs` of its end (then at debug). */
  set(part: string, condition: Condition): void {
    const ended = this.#ended.get(part);
    this.#ended.delete(part);
    clearTimeout(ended?.line);
    const back = ended?.problem === condition.problem && Date.now() - ended.at < this.#holdMs;
    const known = back || this.#current.get(part)?.problem === condition.problem;
    this.#current.set(part, { ...condition, recurring: back || (known && this.#current.get(part)?.recurring) });
    const { msg, problem: _problem, ...fields } = condition;
    if (known) this.#log.debug(msg, { ...fields, again: true });
    else this.#log.warn(msg, fields);
  }

  /**
   * Clears `part`'s problem; logs `msg` (if given) when there was one: at once, or, for a problem
   * that came back within `holdMs` of an earlier end, once the part has stayed well that long.
   */
  clear(part: string, msg?: string, fields?: LogFields): void {
    const condition = this.#current.get(part);
    if (!condition) return;
    this.#current.delete(part);
    const ended: { problem: string; at: number; line?: ReturnType<typeof setTimeout> } = { problem: condition.problem, at: Date.now() };
    this.#ended.set(part, ended);
    if (!msg) return;
    if (!condition.recurring) return this.#log.info(msg, fields);
    this.#log.debug(msg, { ...fields, again: true });
    ended.line = setTimeout(() => this.#log.info(msg, fields), this.#holdMs);
    ended.line.unref?.();
  }

  /** Drops the lines waiting for a part to hold: nothing is logged after the link is closed. */
  close(): void {
    for (const { line } of this.#ended.values()) clearTimeout(line);
  }

  /** The problem of one part, if any. */
  problemOf(part: string): string | undefined {
    return this.#current.get(part)?.problem;
  }

  /** Every current problem, for `/health`; undefined when all is well. */
  get summary(): string | undefined {
    if (this.#current.size === 0) return undefined;
    return [...this.#current.values()].map((c) => c.problem).join('; ');
  }
}

/**
 * The broker's own words from an amqplib error: the reply text of the channel.close or
 * connection.close that carried it (`PRECONDITION_FAILED - inequivalent arg ...`), or the
 * error's message (`connect ECONNREFUSED 127.0.0.1:5672`).
 */
export function brokerReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // amqplib drops the reply text of a connection.close answering connection.open. RabbitMQ closes
  // there for a virtual host that does not exist, one the user may not use, or one at its connection limit.
  if (message.startsWith('Expected ConnectionOpenOk; got <ConnectionClose')) return CONNECTION_OPEN_REFUSED;
  return /with message "(.*)"$/s.exec(message)?.[1] ?? message;
}

const CONNECTION_OPEN_REFUSED =
  'the broker refused connection.open without a reason amqplib keeps: the virtual host in AMQP_URL may not exist, ' +
  'its user may not be allowed on it, or it may be at its connection limit (rabbitmqctl list_vhosts, list_user_permissions)';

/** The AMQP reply code of a channel or connection close (406, 405, 320...), if the error carries one. */
export function replyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return code;
  const match = /(?:^|; )(\d{3}) \(/.exec(error instanceof Error ? error.message : '');
  return match ? Number(match[1]) : undefined;
}

/**
 * The AMQP method an amqplib error names (`Operation failed: QueueDeclare; ...`), in the
 * protocol's spelling (`queue.declare`); `fallback` when it names none.
 */
export function amqpOperation(error: unknown, fallback: string): string {
  const method = /Operation failed: ([A-Z][a-z]+)([A-Z]\w*);/.exec(error instanceof Error ? error.message : '');
  return method ? `${method[1]!.toLowerCase()}.${method[2]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).slice(1)}` : fallback;
}

/**
 * Why setting `queue` up (declaring it, consuming from it) failed, and what to do about it.
 * A queue that exists with other arguments (406 PRECONDITION_FAILED, "inequivalent arg")
 * is refused rather than adopted: without our dead-letter arguments, or with a length
 * limit or a TTL of someone else's, it would drop the very notifications the outbox keeps.
 * The fix is the operator's: delete the queue, or have the services use another name
 * (`setting`).
 */
export function queueFailure(queue: string, error: unknown, setting = 'the queue name setting'): Condition {
  const reason = brokerReason(error);
  const operation = amqpOperation(error, 'queue.declare');
  const argument = /inequivalent arg '([^']+)'/.exec(reason)?.[1];
  if (replyCode(error) === 406 && argument) {
    const fix = `delete the queue (rabbitmqctl delete_queue ${queue}; its messages go with it) or set ${setting} to another name`;
    return {
      msg: 'queue exists with other arguments; not using it',
      problem: `queue ${queue} exists with another ${argument} than this service declares; ${fix}`,
      operation,
      queue,
      argument,
      reason,
      fix,
    };
  }
  return { msg: 'queue not usable; retrying', problem: `queue ${queue} not usable: ${reason}`, operation, queue, reason };
}
