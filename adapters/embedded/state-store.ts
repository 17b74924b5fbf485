import { messageOf } from '../../operators/model/errors.js';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';

/**
 * The embedded on-disk state of a process without Redis: one LMDB environment in a directory, with a
 * named database per role. LMDB is a memory-mapped B-tree with one writer at a time (a lock in
 * `lock.mdb` shared by every process that opens the directory) and lock-free readers, so `run`, a
 * `dlq redrive` and a `history` in other processes can all open the same directory at once.
 */
export interface StateStore {
  readonly dir: string;
  /** Dedupe marks: storage key -> `DedupeMark` (see dedupe-store.ts). */
  readonly dedupe: Database<unknown, string>;
  /** When each dedupe mark expires: `[expiresAt, storage key]` -> null, oldest first. */
  readonly dedupeExpiry: Database<null, Key>;
  /** The delivery log: storage key of an identity -> `{ position, expiresAt }`. */
  readonly delivered: Database<unknown, string>;
  readonly deliveredExpiry: Database<null, Key>;
  /** The run history: sequence number -> entry, oldest first. */
  readonly history: Database<unknown, number>;
  /** Waits for writes in progress, then closes the environment; the databases answer no more. */
  close(): Promise<void>;
}

/**
 * Opens (creating it, mode 0700: it holds identities) the state directory `dir`. Absolute, or
 * relative to the working directory. One directory per destination: two pipelines sharing one would
 * share dedupe marks and history.
 */
export const openStateStore = (dir: string): StateStore => {
  let root: RootDatabase<unknown, Key>;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // noSubdir: false, or a directory name with a dot in it would be taken for a file name.
    // overlappingSync: false, so a write resolves once it is on disk (a dedupe mark that says delivered
    // survives a power cut), and its flush costs the event loop no wake-ups of its own: with overlapping
    // sync, LMDB's default here, a write resolved at commit and its flush came later from the writer
    // thread, about five wake-ups a write where this takes one (measured: `main-thread wake-ups` in
    // `npm run bench -- end-to-end --parts paced`).
    root = open<unknown, Key>(dir, { noSubdir: false, overlappingSync: false });
  } catch (error) {
    throw new Error(`opening the state store at ${dir}: ${messageOf(error)}`, { cause: error });
  }
  let closed: Promise<void> | undefined;
  return {
    dir,
    dedupe: root.openDB<unknown, string>('dedupe', {}),
    dedupeExpiry: root.openDB<null, Key>('dedupe-expiry', {}),
    delivered: root.openDB<unknown, string>('delivered', {}),
    deliveredExpiry: root.openDB<null, Key>('delivered-expiry', {}),
    history: root.openDB<unknown, number>('history', {}),
    close: () => (closed ??= root.close()),
  };
};

/** Longest key kept as it is; LMDB refuses keys over 1,978 bytes, and an identity can be any length. */
const MAX_PLAIN_KEY_BYTES = 500;
const HASHED = '#sha256:';

/**
 * The key under which `key` is stored: itself, readable, when LMDB can take it; its SHA-256 when it is
 * long or holds a NUL (LMDB keys use NUL as a delimiter). A key that happens to start like a hashed one
 * is hashed too, so two keys never share a storage key.
 */
export const storageKey = (key: string): string =>
  Buffer.byteLength(key, 'utf8') > MAX_PLAIN_KEY_BYTES || key.includes('\u0000') || key.startsWith(HASHED)
    ? `${HASHED}${createHash('sha256').update(key, 'utf8').digest('hex')}`
    : key;
