/**
 * Embedded storage: LMDB, memory-mapped, so a read is a lookup in the page cache
 * without a copy through a server or a socket.
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { ConfigError } from './config.ts';

export type Store = RootDatabase;
export type Table<V, K extends Key = string> = Database<V, K>;

/**
 * Opens (creating when needed) the LMDB environment in `directory`, whatever its name:
 * lmdb-js would take a path with an extension (`accounts.v2`, `/tmp/tmp.x1Yz`) for a
 * database file, so the directory layout is asked for explicitly. When `setting` names
 * the variable the directory came from, a failure is a ConfigError naming it.
 */
export function openStore(directory: string, setting?: string): Store {
  try {
    mkdirSync(directory, { recursive: true });
    return open({ path: directory, noSubdir: false, compression: false });
  } catch (error) {
    if (!setting) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(setting, `cannot open the LMDB store in directory ${JSON.stringify(directory)}: ${reason}`);
  }
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
