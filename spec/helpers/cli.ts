import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the CLI from source (through tsx), as `qualtrics-automations ...args` would run. */
export const startCli = (args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', 'pipeline/cli.ts', ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/** Collects a started CLI's output until it exits. */
export const finished = (child: ChildProcess): Promise<CliResult> => {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
};

/** What a started CLI has written so far, read live (`finished` gives it all only at exit). */
export const liveOutput = (child: ChildProcess): { stdout: () => string; stderr: () => string } => {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return { stdout: () => stdout, stderr: () => stderr };
};

export const runCli = (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  finished(startCli(args, env));

/**
 * Starts CLIs and remembers them, so a test's `afterEach` can kill whatever a failed test left running
 * (a pipeline outliving its test would write into keys the fixture already deleted).
 */
export class CliProcesses {
  readonly #children: ChildProcess[] = [];

  start(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = startCli(args, env);
    this.#children.push(child);
    return child;
  }

  /** Starts a CLI and collects its output until it exits (killed in `killAll` if it never does). */
  run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return finished(this.start(args, env));
  }

  killAll(): void {
    for (const child of this.#children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * Kills (SIGKILL) every child of this process whose command line holds `marker`: for processes a helper
 * outside spec/ started and a failed test could not stop (the backpressure bench's pipeline). Reads
 * /proc, so it finds only this process' own children, by their ids.
 */
export const killChildren = (marker: string): number[] => {
  const killed: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The parent id is the second field after the command name, which is in parentheses and may hold spaces.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== process.pid) continue;
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(marker)) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read: nothing to kill.
    }
  }
  return killed;
};
