import { randomUUID } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { appendLines, openFile, sameFile, type FileId } from './append-lines.js';
import { takeLock } from './compaction-lock.js';
import { decodeLine, LetterIndex, scanLines, type DeadLetterEntry } from './letter-lines.js';

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

export { UNREADABLE_LINE, type DeadLetterEntry } from './letter-lines.js';

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
