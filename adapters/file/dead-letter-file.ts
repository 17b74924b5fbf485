import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Dead letters as JSON lines in a file, for a process without Redis. Appends are queued one after
 * another so lines never interleave; each resolves once the line is written.
 */
export class DeadLetterFile {
  #queue: Promise<unknown> = Promise.resolve();
  #dirReady: Promise<unknown> | undefined;

  constructor(readonly path: string) {}

  add(letter: object): Promise<void> {
    // An id of its own, so `dlq redrive` can remove exactly this line later.
    const line = `${JSON.stringify({ id: randomUUID(), ...letter })}\n`;
    const write = this.#queue.then(async () => {
      this.#dirReady ??= mkdir(dirname(this.path), { recursive: true });
      await this.#dirReady;
      await appendFile(this.path, line, 'utf8');
    });
    // A failed write fails its own caller, not the ones queued after it.
    this.#queue = write.catch(() => {});
    return write;
  }

  /** How many letters the file holds. */
  async size(): Promise<number> {
    return (await this.list()).length;
  }

  /** Every letter with its id, oldest first (none if there is no file yet). */
  async entries(): Promise<Array<{ id: string; letter: unknown }>> {
    return (await this.list()).map((letter, index) => ({ id: String((letter as { id?: unknown }).id ?? `line-${index + 1}`), letter }));
  }

  /** Removes the letters with these ids; lines appended meanwhile are kept. */
  async remove(ids: readonly string[]): Promise<void> {
    const gone = new Set(ids);
    const write = this.#queue.then(async () => {
      const kept = (await this.entries()).filter((entry) => !gone.has(entry.id)).map((entry) => JSON.stringify(entry.letter));
      await writeFile(this.path, kept.length > 0 ? `${kept.join('\n')}\n` : '', 'utf8');
    });
    this.#queue = write.catch(() => {});
    return write;
  }

  /** Every letter in the file, oldest first (none if there is no file yet). */
  async list(): Promise<unknown[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  }
}
