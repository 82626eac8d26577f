/**
 * Embedded storage: LMDB, memory-mapped, so a read is a lookup in the page cache
 * without a copy through a server or a socket.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';

export type Store = RootDatabase;
export type Table<V, K extends Key = string> = Database<V, K>;

/** Opens (creating when needed) the LMDB environment in `directory`. */
export function openStore(directory: string): Store {
  mkdirSync(directory, { recursive: true });
  return open({ path: directory, compression: false });
}

/** A named table of JSON-like values inside the store. */
export function openTable<V, K extends Key = string>(store: Store, name: string): Table<V, K> {
  return store.openDB<V, K>({ name });
}

/** Whether the store can still be read; a problem description otherwise. */
export function storeProblem(store: Store): string | undefined {
  try {
    store.getStats();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
