/**
 * A durable inbox: the ids of the messages a consumer has handled, kept in LMDB beside
 * the consumer's other state, so a message RabbitMQ delivers again (its acknowledgement
 * was lost to a closed channel, a dropped connection or a restart) is recognised and not
 * handled twice, even by a new process.
 *
 * Bounded: beyond `capacity` ids, the oldest are forgotten. A redelivery comes within
 * the prefetch window of its first delivery, so a bound far above it loses nothing.
 */
import { committed, openTable, sequenceKeys, type Store, type Table } from './storage.ts';

export interface InboxOptions {
  store: Store;
  /** Handled ids remembered, at most (the oldest are forgotten first). */
  capacity?: number;
}

export class Inbox {
  readonly #store: Store;
  /** Message id → its key in `#order`. */
  readonly #ids: Table<number, string>;
  /** Key (insertion order) → message id: the oldest ids come first. */
  readonly #order: Table<string, number>;
  readonly #nextKey: () => number;
  readonly #capacity: number;
  /** Ids being handled now and not yet on disk: a second delivery meanwhile is a duplicate too. */
  readonly #claimed = new Set<string>();

  constructor({ store, capacity = 100_000 }: InboxOptions) {
    this.#store = store;
    this.#ids = openTable<number, string>(store, 'inbox-ids');
    this.#order = openTable<string, number>(store, 'inbox-order');
    this.#nextKey = sequenceKeys(this.#order);
    this.#capacity = capacity;
  }

  /** Ids remembered on disk. */
  get size(): number {
    return this.#ids.getCount();
  }

  /**
   * Claims `messageId` for handling: false when it was handled already, or is being
   * handled now. A claim ends with `complete` (handled) or `release` (not handled).
   */
  claim(messageId: string): boolean {
    if (this.#claimed.has(messageId) || this.#ids.get(messageId) !== undefined) return false;
    this.#claimed.add(messageId);
    return true;
  }

  /**
   * Records a claimed id as handled, forgetting the oldest beyond the capacity; resolves
   * once it is on disk. Rejects with LMDB's reason when the commit fails.
   */
  async complete(messageId: string): Promise<void> {
    const key = this.#nextKey();
    try {
      await committed(
        this.#store.transaction(() => {
          void this.#ids.put(messageId, key);
          void this.#order.put(key, messageId);
          const excess = this.#order.getCount() - this.#capacity;
          if (excess <= 0) return;
          for (const { key: oldKey, value: oldId } of this.#order.getRange({ limit: excess })) {
            void this.#order.remove(oldKey);
            void this.#ids.remove(oldId);
          }
        }),
        this.#store,
      );
    } finally {
      this.#claimed.delete(messageId);
    }
  }

  /** Gives a claim up without recording it: a redelivery will be handled. */
  release(messageId: string): void {
    this.#claimed.delete(messageId);
  }
}
