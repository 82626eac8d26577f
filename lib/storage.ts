/**
 * Embedded storage: LMDB, memory-mapped, so a read is a lookup in the page cache
 * without a copy through a server or a socket.
 */
import { mkdirSync, statSync } from 'node:fs';
import process from 'node:process';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { ConfigError } from './config.ts';
import type { Logger } from './log.ts';

export type Store = RootDatabase;
export type Table<V, K extends Key = string> = Database<V, K>;

/**
 * Opens (creating when needed) the LMDB environment in `directory`, whatever its name:
 * lmdb-js would take a path with an extension (`accounts.v2`, `/tmp/tmp.x1Yz`) for a
 * database file, so the directory layout is asked for explicitly. When `setting` names
 * the variable the directory came from, a failure is a ConfigError naming it, with what to do
 * about it. With `log`, a commit through `committed` that fails after the last one succeeded is
 * one line, with what to do, and the next that succeeds another (see `storeWriteProblem`).
 */
export function openStore(directory: string, setting?: string, log?: Logger): Store {
  try {
    groupWritable();
    mkdirSync(directory, { recursive: true });
    const store = open({ path: directory, noSubdir: false, compression: false });
    writeStates.set(store, { directory, log });
    return store;
  } catch (error) {
    if (!setting) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const remedy = openRemedy((error as { code?: unknown })?.code, directory, processIdentity());
    throw new ConfigError(setting, `cannot open the LMDB store in directory ${JSON.stringify(directory)}: ${reason}${remedy ? `. ${remedy}` : ''}`);
  }
}

/**
 * Clears the group's bits of the process umask (022 becomes 002), so that the directory and the
 * files LMDB makes in it (data.mdb, lock.mdb: mode 0664 less the umask) stay writable for their
 * group: another user of the same group can open the store again, as when OpenShift assigns the
 * pod a new user, always in group 0, or the volume's fsGroup changes owners. With 022 they would
 * be the first user's alone. What the umask withholds from others stays withheld.
 */
function groupWritable(): void {
  // umask() without an argument is deprecated (it sets the mask to read it): set, then put back less the group's bits.
  process.umask(process.umask(0o002) & 0o707);
}

/** Who this process is to the file system: its user and groups, when the runtime tells. */
export interface ProcessIdentity {
  uid?: number;
  groups: number[];
}

function processIdentity(): ProcessIdentity {
  // Deno's node:process may lack getgroups; the primary group is still known.
  const groups = new Set<number>();
  try {
    for (const gid of process.getgroups?.() ?? []) groups.add(gid);
  } catch { /* not on this runtime */ }
  try {
    const gid = process.getgid?.();
    if (gid !== undefined) groups.add(gid);
  } catch { /* not on this runtime */ }
  let uid: number | undefined;
  try {
    uid = process.getuid?.();
  } catch { /* not on this runtime */ }
  return { uid, groups: [...groups] };
}

/** Error codes of a failed open, as Node's fs names them or as lmdb-js numbers them (errno). */
const OPEN_ERRORS: Record<string, 'denied' | 'readOnly' | 'full' | 'notDirectory'> = {
  EACCES: 'denied', 13: 'denied', EPERM: 'denied', 1: 'denied',
  // mkdir of a path that is a file (EEXIST), or of one below a file (ENOTDIR).
  EEXIST: 'notDirectory', ENOTDIR: 'notDirectory', 20: 'notDirectory',
  EROFS: 'readOnly', 30: 'readOnly',
  ENOSPC: 'full', 28: 'full', EDQUOT: 'full', 122: 'full',
};

/**
 * What to do about a store that would not open, for an operator reading one log line: the
 * directory's owner and mode against this process's user and groups when it may not write there
 * (a volume of another user, mounted without the pod's fsGroup), which way a volume is full or
 * read-only, or that the path is a file. Undefined for a failure it cannot explain.
 */
export function openRemedy(code: unknown, directory: string, identity: ProcessIdentity): string | undefined {
  switch (OPEN_ERRORS[String(code)]) {
    case 'denied': {
      let owner = 'it';
      try {
        const stat = statSync(directory);
        owner = `it is owned by uid ${stat.uid} gid ${stat.gid} with mode ${(stat.mode & 0o7777).toString(8)}`;
      } catch { /* unreadable too: say what is known */ }
      const self = `this process runs as uid ${identity.uid ?? 'unknown'} in groups ${identity.groups.join(',') || 'unknown'}`;
      return `The directory is not writable for this process: ${owner}, ${self}. Give the pod a securityContext.fsGroup that is one of its groups, so the volume is mounted writable for it, or make the volume's directory writable for that user or group (chown or chmod it)`;
    }
    case 'readOnly':
      return 'The volume is mounted read-only: mount it writable (volumeMounts readOnly: false), or point the setting at a writable volume';
    case 'full':
      return 'The volume is full: free space on it, or give it more (a larger emptyDir sizeLimit or PersistentVolumeClaim)';
    case 'notDirectory':
      // Most often the store's own data.mdb, named where its directory belongs.
      return 'The path is a file, or lies below one, not a directory: point the setting at a directory (an LMDB store is a directory holding data.mdb and lock.mdb), or move the file away';
    default:
      return undefined;
  }
}

/** A named table of JSON-like values inside the store. */
export function openTable<V, K extends Key = string>(store: Store, name: string): Table<V, K> {
  return store.openDB<V, K>({ name });
}

/** Where a store is, and its writes' failure while they fail (since the last commit that succeeded). */
interface WriteState {
  directory: string;
  log?: Logger;
  failure?: { reason: string; remedy?: string; since: string };
}

const writeStates = new WeakMap<Store, WriteState>();

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
 * Whether writes to the store work, as far as commits through `committed` tell: failing from a
 * failed one until one succeeds, with what to do. Apart from `storeProblem`, since a full volume
 * fails every write while reads go on.
 */
export function storeWriteProblem(store: Store): string | undefined {
  const failure = writeStates.get(store)?.failure;
  return failure && `writes fail since ${failure.since}: ${failure.reason}${failure.remedy ? `. ${failure.remedy}` : ''}`;
}

/** Records a commit's outcome for `storeWriteProblem`, logging when writes start failing and when they work again. */
function recordWrite(store: Store | undefined, error?: Error & { cause?: unknown }): void {
  const state = store && writeStates.get(store);
  if (!state) return;
  if (!error) {
    if (!state.failure) return;
    state.log?.info('LMDB writes work again', { dataDir: state.directory, failingSince: state.failure.since });
    state.failure = undefined;
    return;
  }
  if (state.failure) return;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  state.failure = { reason: error.message, remedy: openRemedy(code, state.directory, processIdentity()), since: new Date().toISOString() };
  // One line for the operator; each failed write is the caller's to report with its request.
  state.log?.error('LMDB writes fail', { dataDir: state.directory, error: error.message, ...(state.failure.remedy && { remedy: state.failure.remedy }) });
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

/** A write LMDB could not commit (a full volume, a file size limit, an I/O error), as `committed` rejects with it. */
export class CommitError extends Error {
  override name = 'CommitError';
}

/**
 * Awaits an LMDB write (a put, a remove, a transaction). When the commit fails (disk
 * full, file size limit, I/O error) it rejects with LMDB's own reason, e.g. "LMDB commit
 * failed: File too large", where lmdb-js says only "see commitError". Given the `store` written
 * to, the outcome counts for its `storeWriteProblem`.
 */
export async function committed<T>(write: Promise<T>, store?: Store): Promise<T> {
  let result: T;
  try {
    result = await write;
  } catch (error) {
    const commitError = (error as { commitError?: Promise<unknown> }).commitError;
    if (!commitError) throw error;
    // lmdb-js rejects commitError in the same turn as the write; a timer is the bound should it not.
    const settled = new Promise((resolve) => setTimeout(resolve, 0));
    const cause = await Promise.race([commitError.then(() => undefined, (reason: unknown) => reason), settled]);
    const reason = cause instanceof Error ? cause.message : 'unknown reason';
    const failed = new CommitError(`LMDB commit failed: ${reason}`, { cause });
    recordWrite(store, failed);
    throw failed;
  }
  recordWrite(store);
  return result;
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
