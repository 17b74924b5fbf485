import { spawn, type ChildProcess } from 'node:child_process';

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

export const runCli = (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => finished(startCli(args, env));

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

  killAll(): void {
    for (const child of this.#children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
