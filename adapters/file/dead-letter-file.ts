import { appendFile, mkdir, readFile } from 'node:fs/promises';
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
    const line = `${JSON.stringify(letter)}\n`;
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
