import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { codeOf } from './guards.js';
import { NEWLINE } from './letter-lines.js';

/*
 * Appends to the dead-letter file that no compaction in another process can lose: the writer checks,
 * still holding the file, that its path still names it, and appends again if not. Why that suffices is
 * explained at the top of dead-letter-file.ts.
 */

/** An append retried this often found the file replaced every time: something other than compaction. */
const MAX_APPEND_ATTEMPTS = 10;

export interface FileId {
  readonly dev: number;
  readonly ino: number;
  readonly birthtimeMs: number;
}

export const sameFile = (a: FileId, b: FileId): boolean =>
  a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;

export const openFile = async (path: string, flags: string): Promise<FileHandle | undefined> => {
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

/**
 * Appends `text` (whole lines) so that a compaction in another process cannot lose it (see the top of
 * dead-letter-file.ts).
 */
export const appendLines = async (path: string, text: string): Promise<void> => {
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
