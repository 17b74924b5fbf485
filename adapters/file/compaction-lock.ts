import { parseJson } from '../../operators/model/json.js';
import { randomUUID } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { codeOf, isRecord } from './guards.js';

/*
 * The lock that keeps two compactions of the dead-letter file from running at once: `<file>.lock`,
 * taken by O_EXCL, holding pid and host. When it is broken and when it stops compaction is explained at
 * the top of dead-letter-file.ts.
 */

/** The owner written into a compaction lock. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly nonce: string;
}

const ownerOf = (text: string | undefined): LockOwner | undefined => {
  const value = text === undefined ? undefined : parseJson(text);
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
export const takeLock = async (lockPath: string): Promise<(() => Promise<void>) | undefined> => {
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
