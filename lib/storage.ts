/**
 * Embedded storage: LMDB, memory-mapped, so a read is a lookup in the page cache
 * without a copy through a server or a socket.
 */
import { mkdirSync } from 'node:fs';
import process from 'node:process';
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

/**
 * Keys for a table kept in insertion order: increasing numbers (microseconds since the
 * epoch, made unique), continuing after the largest key already on disk. LMDB sorts
 * numeric keys numerically, so the first key is the oldest entry.
 */
export function sequenceKeys(table: Table<unknown, number>): () => number {
  let last = [...table.getKeys({ reverse: true, limit: 1 })][0] ?? 0;
  return () => (last = Math.max(Date.now() * 1000, last + 1));
}

/**
 * Awaits an LMDB write (a put, a remove, a transaction). When the commit fails (disk
 * full, file size limit, I/O error) it rejects with LMDB's own reason, e.g. "LMDB commit
 * failed: File too large", where lmdb-js says only "see commitError".
 */
export async function committed<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    const commitError = (error as { commitError?: Promise<unknown> }).commitError;
    if (!commitError) throw error;
    // lmdb-js rejects commitError in the same turn as the write; a timer is the bound should it not.
    const settled = new Promise((resolve) => setTimeout(resolve, 0));
    const cause = await Promise.race([commitError.then(() => undefined, (reason: unknown) => reason), settled]);
    const reason = cause instanceof Error ? cause.message : 'unknown reason';
    throw new Error(`LMDB commit failed: ${reason}`, { cause });
  }
}

/**
 * A failed commit makes lmdb-js reject promises of its own besides the caller's write
 * (kriszyp/lmdb-js#368): nobody can handle them, and an unhandled rejection ends the
 * process. Those carry a `commitError` and are dropped here (the caller's write reports
 * the failure, see `committed`); any other unhandled rejection still ends the process,
 * as it does by default.
 */
process.on('unhandledRejection', (reason) => {
  if (typeof reason === 'object' && reason !== null && 'commitError' in reason) return;
  throw reason;
});
