import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./state-child.ts', import.meta.url));

/** Starts `state-child.ts` on `dir` in a process of its own (through tsx, like the CLI specs). */
export const startChild = (dir: string, command: string, n = 0): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', CHILD, dir, command, String(n)], { stdio: ['pipe', 'pipe', 'pipe'] });

/** Resolves once the child printed `line`. */
export const printed = (child: ChildProcess, line: string): Promise<void> =>
  new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      if (out.split('\n').includes(line)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`state-child exited (${code}) before printing ${line}: ${out}`)));
  });

/** The child's last line of output, parsed, once it exited 0. */
export const answerOf = async (child: ChildProcess): Promise<unknown> => {
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`state-child exited ${code}: ${err}`);
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as unknown;
};
