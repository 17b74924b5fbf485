import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

/*
 * Dead letters as JSON lines in a file, for a process without Redis: `run` appends letters while a
 * `dlq redrive` in another process removes the ones it sent again. The file is only ever appended to:
 *
 *   {"id":"<uuid>","at":...,"reason":...,"payload":...}   a letter
 *   {"removed":["<uuid>",...]}                             a tombstone: those letters are gone
 *
 * so no process ever writes back what it read a moment ago, and no line appended meanwhile is lost.
 * Removal is final: a letter line that shows up again after its tombstone stays removed.
 *
 * Compaction (dropping removed letters) replaces the file with a new one by rename, and is safe with
 * appenders in other processes that take no lock:
 * - an append opens the file by its path, writes its line in one write, and, still holding the file,
 *   checks that the path names the file it wrote to; if a compaction replaced it meanwhile, it appends
 *   the line again to the new file (the letter's id makes a second copy harmless);
 * - a compaction reads the old file, writes the new one, renames it into place, and then copies over
 *   whatever was appended to the old file after its read. A line written to the old file is either
 *   copied by that last step or written before its writer looks at the path, which by then names the
 *   new file, so the writer appends it again.
 * Compactions exclude each other with a lock file taken by O_EXCL (`<file>.lock`, holding pid and
 * host): two at once could each drop what the other kept. A lock whose process is gone (same host) is
 * broken; one from another host, or whose pid was reused, stops compaction (never appends) until it is
 * removed by hand. What compaction cannot rule out: a letter removed, compacted away twice, all while
 * its own appender was between its write and its check (microseconds) could come back once; dedupe
 * would then see it as a duplicate.
 */

/** The reason given to a line that is not a JSON object (a crash tore it): listed, never skipped silently. */
export const UNREADABLE_LINE = 'unreadable-line';

/** A dead letter as `entries()` answers it: its id, and the line's object (the id inside it too). */
export interface DeadLetterEntry {
  readonly id: string;
  readonly letter: unknown;
}

export interface DeadLetterFileOptions {
  /**
   * `remove` compacts the file once it holds at least this many removed letters and they are at least
   * as many as the live ones. Default 1,000; 0 never compacts by itself (`compact()` still does).
   */
  readonly compactAfter?: number;
}

export type CompactionResult =
  | { readonly compacted: true; readonly kept: number; readonly dropped: number }
  | { readonly compacted: false; readonly reason: string };

/** A letter line: its id, its object, and its text as compaction writes it (with the id in it). */
interface LetterLine {
  readonly kind: 'letter';
  readonly id: string;
  readonly letter: Readonly<Record<string, unknown>>;
  readonly text: string;
}
type Line = LetterLine | { readonly kind: 'removed'; readonly ids: readonly string[] };

const NEWLINE = 0x0a;
const CHUNK_BYTES = 64 * 1024;
/** An append retried this often found the file replaced every time: something other than compaction. */
const MAX_APPEND_ATTEMPTS = 10;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isTombstone = (value: Record<string, unknown>): value is { removed: string[] } => {
  const keys = Object.keys(value);
  const { removed } = value;
  return keys.length === 1 && Array.isArray(removed) && removed.every((id) => typeof id === 'string');
};

const codeOf = (error: unknown): unknown => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Decodes line `lineNo` (from 1) of the file; blank lines are nothing. A letter without an id of its
 * own (written before letters had ids) is `line-<n>`: stable, since lines never move, and compaction
 * writes the id into the line.
 */
const decodeLine = (text: string, lineNo: number): Line | undefined => {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!isRecord(value)) {
    // The text's hash too: after a compaction, line numbers start again, and ids must not meet.
    const id = `line-${lineNo}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
    const letter = { id, reason: UNREADABLE_LINE, text };
    return { kind: 'letter', id, letter, text: JSON.stringify(letter) };
  }
  if (isTombstone(value)) return { kind: 'removed', ids: value.removed };
  if (typeof value.id === 'string') return { kind: 'letter', id: value.id, letter: value, text };
  const id = `line-${lineNo}`;
  return { kind: 'letter', id, letter: value, text: JSON.stringify({ ...value, id }) };
};

/** What the lines read so far say: which letters are live, and (if kept) the letters themselves. */
class LetterIndex {
  readonly #seen = new Set<string>();
  readonly #removed = new Set<string>();
  readonly #letters: Map<string, LetterLine> | undefined;
  #live = 0;
  #lines = 0;

  /** `keepLetters: false` keeps ids only: what `size()` needs, without holding payloads. */
  constructor(keepLetters: boolean) {
    this.#letters = keepLetters ? new Map() : undefined;
  }

  get live(): number {
    return this.#live;
  }

  /** Letters in the file that a tombstone removed: what a compaction would drop. */
  get removedLetters(): number {
    return this.#seen.size - this.#live;
  }

  get lines(): number {
    return this.#lines;
  }

  read(text: string): void {
    this.#lines += 1;
    const line = decodeLine(text, this.#lines);
    if (line?.kind === 'letter' && !this.#seen.has(line.id)) {
      this.#seen.add(line.id);
      this.#letters?.set(line.id, line);
      if (!this.#removed.has(line.id)) this.#live += 1;
    } else if (line?.kind === 'removed') {
      for (const id of line.ids) {
        if (this.#removed.has(id)) continue;
        this.#removed.add(id);
        if (this.#seen.has(id)) this.#live -= 1;
      }
    }
  }

  /** Live letters, in the order first written. */
  entries(): DeadLetterEntry[] {
    const letters = [...(this.#letters?.values() ?? [])];
    return letters.filter(({ id }) => !this.#removed.has(id)).map(({ id, letter }) => ({ id, letter }));
  }

  /**
   * The file this index describes, compacted: live letters, and one tombstone for the letters dropped
   * now (kept through one compaction, for a copy of a letter its appender is about to write again).
   */
  compacted(): string {
    const letters = [...(this.#letters?.values() ?? [])];
    const kept = letters.filter(({ id }) => !this.#removed.has(id)).map(({ text }) => `${text}\n`);
    const dropped = letters.filter(({ id }) => this.#removed.has(id)).map(({ id }) => id);
    return kept.join('') + (dropped.length > 0 ? `${JSON.stringify({ removed: dropped })}\n` : '');
  }
}

/**
 * Reads the complete lines of `handle` from byte `start`, handing each to `onLine`. A last line without
 * its newline (being written right now, or torn by a crash) is left for a later read. Answers the byte
 * after the last complete line, and how many bytes were read.
 */
const scanLines = async (
  handle: FileHandle,
  start: number,
  onLine: (text: string) => void,
): Promise<{ end: number; bytesRead: number }> => {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = start;
  let end = start;
  let pending: Buffer[] = [];
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    const view = chunk.subarray(0, bytesRead);
    let from = 0;
    for (let newline = view.indexOf(NEWLINE); newline !== -1; newline = view.indexOf(NEWLINE, from)) {
      onLine(Buffer.concat([...pending, view.subarray(from, newline)]).toString('utf8'));
      pending = [];
      from = newline + 1;
      end = position + from;
    }
    // Copied: the chunk buffer is read into again.
    if (from < bytesRead) pending.push(Buffer.from(view.subarray(from)));
    position += bytesRead;
  }
  return { end, bytesRead: position - start };
};

interface FileId {
  readonly dev: number;
  readonly ino: number;
  readonly birthtimeMs: number;
}

const sameFile = (a: FileId, b: FileId): boolean =>
  a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;

const openFile = async (path: string, flags: string): Promise<FileHandle | undefined> => {
  try {
    return await open(path, flags, 0o600);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw error;
  }
};

/** Creates the file (0600, its directory 0700) if it is not there, and opens it for appending. */
const openForAppend = async (path: string): Promise<FileHandle> => {
  const handle = await openFile(path, 'a+');
  if (handle) return handle;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return open(path, 'a+', 0o600);
};

/** Appends `text` (whole lines) so that a compaction in another process cannot lose it (see the top). */
const appendLines = async (path: string, text: string): Promise<void> => {
  for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt += 1) {
    const handle = await openForAppend(path);
    try {
      const { size } = await handle.stat();
      const last = Buffer.alloc(1);
      if (size > 0) await handle.read(last, 0, 1, size - 1);
      // A crash mid-append can leave a last line without its newline: end it, or this one would join it.
      const bytes = Buffer.from(size > 0 && last[0] !== NEWLINE ? `\n${text}` : text, 'utf8');
      for (let written = 0; written < bytes.length; ) written += (await handle.write(bytes, written)).bytesWritten;
      // Still holding the file, so its inode cannot be reused by a new file meanwhile.
      const [ours, current] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
      if (current !== undefined && sameFile(ours, current)) return;
    } finally {
      await handle.close();
    }
  }
  throw new Error(`appending to ${path}: the file was replaced ${MAX_APPEND_ATTEMPTS} times while writing`);
};

/** The owner written into a compaction lock. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly nonce: string;
}

const ownerOf = (text: string | undefined): LockOwner | undefined => {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const { pid, host, nonce } = value;
  if (typeof pid !== 'number' || typeof host !== 'string' || typeof nonce !== 'string') return undefined;
  return { pid, host, nonce };
};

const readText = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) === 'EPERM';
  }
};

/**
 * Removes the lock at `lockPath` if its process is provably gone (same host, no such pid); answers
 * whether it is gone. It is moved aside first and checked: if a live lock had replaced the stale one
 * meanwhile, that one is put back.
 */
const breakIfStale = async (lockPath: string): Promise<boolean> => {
  const owner = ownerOf(await readText(lockPath));
  if (owner === undefined || owner.host !== hostname() || isAlive(owner.pid)) return false;
  const aside = `${lockPath}.stale-${randomUUID()}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return true;
    throw error;
  }
  if (ownerOf(await readText(aside))?.nonce !== owner.nonce) {
    await link(aside, lockPath).catch(() => {});
    await unlink(aside).catch(() => {});
    return false;
  }
  await unlink(aside).catch(() => {});
  return true;
};

/** Takes the compaction lock; answers how to release it, or undefined if another process holds it. */
const takeLock = async (lockPath: string): Promise<(() => Promise<void>) | undefined> => {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const owner: LockOwner = { pid: process.pid, host: hostname(), nonce: randomUUID() };
    try {
      const text = JSON.stringify({ ...owner, at: new Date().toISOString() });
      await writeFile(lockPath, text, { flag: 'wx', mode: 0o600 });
      return async () => {
        if (ownerOf(await readText(lockPath))?.nonce === owner.nonce) await unlink(lockPath).catch(() => {});
      };
    } catch (error) {
      if (codeOf(error) !== 'EEXIST') throw error;
    }
    if (!(await breakIfStale(lockPath))) return undefined;
  }
  return undefined;
};

/** Replaces the file at `path` with its live letters (under the lock); see the top for why it is safe. */
const compactFile = async (path: string): Promise<CompactionResult> => {
  const old = await openFile(path, 'r');
  if (old === undefined) return { compacted: false, reason: `${path} does not exist` };
  try {
    const index = new LetterIndex(true);
    const { end } = await scanLines(old, 0, (text) => index.read(text));
    const temporary = `${path}.compact-${process.pid}-${randomUUID()}`;
    const fresh = await open(temporary, 'wx', 0o600);
    try {
      await fresh.writeFile(index.compacted(), 'utf8');
      await fresh.sync();
    } finally {
      await fresh.close();
    }
    try {
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw error;
    }
    // Appended to the old file after it was read: copied over (their writers may append them again).
    let tail = '';
    let lineNo = index.lines;
    await scanLines(old, end, (text) => {
      lineNo += 1;
      const line = decodeLine(text, lineNo);
      if (line?.kind === 'letter') tail += `${line.text}\n`;
      else if (line?.kind === 'removed') tail += `${text}\n`;
    });
    if (tail !== '') await appendLines(path, tail);
    return { compacted: true, kept: index.live, dropped: index.removedLetters };
  } finally {
    await old.close();
  }
};

/**
 * Dead letters as JSON lines in a file (created 0600), for a process without Redis; safe with other
 * processes appending and removing at the same time (see the top of this file). Appends from this
 * process are written one after another, in call order; each resolves once its line is written.
 */
export class DeadLetterFile {
  readonly #compactAfter: number;
  #queue: Promise<unknown> = Promise.resolve();
  /** What `size()` has read so far: it goes on from `end`, reading only what was appended since. */
  #counted: { file: FileId; end: number; index: LetterIndex } | undefined;
  #counting: Promise<unknown> = Promise.resolve();
  #bytesCounted = 0;

  constructor(
    readonly path: string,
    { compactAfter = 1_000 }: DeadLetterFileOptions = {},
  ) {
    this.#compactAfter = compactAfter;
  }

  add(letter: object): Promise<void> {
    // An id of its own, so `dlq redrive` can remove exactly this letter later.
    return this.#enqueue(() => appendLines(this.path, `${JSON.stringify({ id: randomUUID(), ...letter })}\n`));
  }

  /**
   * How many letters the file holds. Reads only the bytes appended since its last call (a metrics
   * scrape costs what was added, not the file), keeping the ids of the letters in the file, not the
   * letters; starts over when the file was replaced (compaction) or truncated.
   */
  size(): Promise<number> {
    const counted = this.#counting.then(() => this.#count());
    this.#counting = counted.catch(() => {});
    return counted;
  }

  /** Bytes `size()` has read in all: what it costs. */
  get bytesCounted(): number {
    return this.#bytesCounted;
  }

  /** Every letter with its id, oldest first (none if there is no file yet). */
  async entries(): Promise<DeadLetterEntry[]> {
    const handle = await openFile(this.path, 'r');
    if (handle === undefined) return [];
    try {
      const index = new LetterIndex(true);
      await scanLines(handle, 0, (text) => index.read(text));
      return index.entries();
    } finally {
      await handle.close();
    }
  }

  /** Every letter in the file, oldest first (none if there is no file yet). */
  async list(): Promise<unknown[]> {
    return (await this.entries()).map(({ letter }) => letter);
  }

  /**
   * Removes the letters with these ids (appends a tombstone); letters appended meanwhile, by any
   * process, are kept. Then compacts the file if removed letters have piled up (see `compactAfter`).
   */
  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#enqueue(() => appendLines(this.path, `${JSON.stringify({ removed: ids })}\n`));
    if (this.#compactAfter <= 0) return;
    await this.size();
    const index = this.#counted?.index;
    if (index && index.removedLetters >= this.#compactAfter && index.removedLetters >= index.live) {
      // The letters are removed either way: a compaction that fails is tried again after a later removal.
      await this.compact().catch(() => {});
    }
  }

  /** Rewrites the file without removed letters, unless another process is compacting it right now. */
  async compact(): Promise<CompactionResult> {
    const lockPath = `${this.path}.lock`;
    const release = await takeLock(lockPath);
    if (release === undefined) return { compacted: false, reason: `another compaction holds ${lockPath}` };
    try {
      return await compactFile(this.path);
    } finally {
      await release();
    }
  }

  #enqueue(write: () => Promise<void>): Promise<void> {
    const written = this.#queue.then(write);
    // A failed write fails its own caller, not the ones queued after it.
    this.#queue = written.catch(() => {});
    return written;
  }

  async #count(): Promise<number> {
    const handle = await openFile(this.path, 'r');
    if (handle === undefined) {
      this.#counted = undefined;
      return 0;
    }
    try {
      const file = await handle.stat();
      if (this.#counted === undefined || !sameFile(this.#counted.file, file) || file.size < this.#counted.end) {
        this.#counted = { file, end: 0, index: new LetterIndex(false) };
      }
      const counted = this.#counted;
      const { end, bytesRead } = await scanLines(handle, counted.end, (text) => counted.index.read(text));
      counted.end = end;
      this.#bytesCounted += bytesRead;
      return counted.index.live;
    } finally {
      await handle.close();
    }
  }
}
