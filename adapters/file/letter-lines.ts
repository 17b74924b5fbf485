import { parseJson } from '../../operators/model/json.js';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { isRecord } from './guards.js';

/*
 * The dead-letter file's format: letters and tombstones as JSON lines, what the lines read so far say
 * (which letters are live), and reading complete lines from a file. The protocol around it is explained
 * at the top of dead-letter-file.ts.
 */

/** The reason given to a line that is not a JSON object (a crash tore it): listed, never skipped silently. */
export const UNREADABLE_LINE = 'unreadable-line';

/** A dead letter as `entries()` answers it: its id, and the line's object (the id inside it too). */
export interface DeadLetterEntry {
  readonly id: string;
  readonly letter: unknown;
}

/** A letter line: its id, its object, and its text as compaction writes it (with the id in it). */
interface LetterLine {
  readonly kind: 'letter';
  readonly id: string;
  readonly letter: Readonly<Record<string, unknown>>;
  readonly text: string;
}
type Line = LetterLine | { readonly kind: 'removed'; readonly ids: readonly string[] };

export const NEWLINE = 0x0a;
const CHUNK_BYTES = 64 * 1024;

const isTombstone = (value: Record<string, unknown>): value is { removed: string[] } => {
  const keys = Object.keys(value);
  const { removed } = value;
  return keys.length === 1 && Array.isArray(removed) && removed.every((id) => typeof id === 'string');
};

/**
 * Decodes line `lineNo` (from 1) of the file; blank lines are nothing. A letter without an id of its
 * own (written before letters had ids) is `line-<n>`: stable, since lines never move, and compaction
 * writes the id into the line.
 */
export const decodeLine = (text: string, lineNo: number): Line | undefined => {
  if (text.trim() === '') return undefined;
  const value = parseJson(text);
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
export class LetterIndex {
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
export const scanLines = async (
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
