/** Accounts in LMDB, seeded with 100 people, and the shapes accountservice answers with. */
import { openTable, type Store, type Table } from '../../lib/storage.ts';
import type { Span } from '../../lib/tracing/span.ts';
import { PLACEHOLDER_PATH } from './placeholder.ts';

export interface StoredAccount {
  id: string;
  name: string;
}

export interface Quote {
  quote: string;
  ipAddress: string;
  language: string;
}

export interface ImageData {
  url: string;
  servedBy: string;
}

export interface Account extends StoredAccount {
  servedBy: string;
  quote: Quote;
  imageData: ImageData;
}

export const FIRST_ACCOUNT_ID = 10000;
export const SEEDED_ACCOUNTS = 100;
/** Reading this account notifies vipservice. */
export const VIP_ACCOUNT_ID = '10000';

export const QUOTE_FALLBACK: Quote = {
  quote: 'May the source be with you, always.',
  ipAddress: 'circuit-breaker',
  language: 'en',
};
/** What imageservice's client falls back to; the answer points `url` at accountservice's own placeholder image. */
export const IMAGE_FALLBACK: ImageData = { url: PLACEHOLDER_PATH, servedBy: 'fallback' };

/** Account ids are 1 to 10 digits; anything else is a bad request, not a miss. */
export const isAccountId = (value: string) => /^\d{1,10}$/.test(value);

export class AccountStore {
  readonly #accounts: Table<StoredAccount>;

  constructor(store: Store) {
    this.#accounts = openTable<StoredAccount>(store, 'accounts');
  }

  /** Writes the seed accounts that are missing; running it again changes nothing. */
  async seed(): Promise<number> {
    return this.#accounts.transaction(() => {
      let added = 0;
      for (let i = 0; i < SEEDED_ACCOUNTS; i++) {
        const id = String(FIRST_ACCOUNT_ID + i);
        if (this.#accounts.doesExist(id)) continue;
        void this.#accounts.put(id, { id, name: `Person_${i}` });
        added++;
      }
      return added;
    });
  }

  /** Reads one account inside a `queryaccount` span below `parent`. */
  get(id: string, parent: Span): StoredAccount | undefined {
    return parent.trace('queryaccount', (span) => {
      const account = this.#accounts.get(id);
      // Tagged after the read, so the span's duration is the read.
      span.tag('db.system', 'lmdb');
      span.tag('account.id', id);
      return account;
    });
  }
}
