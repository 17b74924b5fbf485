import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve('.');

let tarball: Promise<string> | undefined;
let prefix: Promise<string> | undefined;

/** This package as `npm pack` makes it (prepare builds it): packed once per test run, for every spec that needs it. */
export const packedTarball = (): Promise<string> => {
  tarball ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qa-packed-'));
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO });
    return join(dir, stdout.trim().split('\n').pop()!);
  })();
  return tarball;
};

/**
 * A temporary prefix with the tarball installed globally into it (`npm install -g --prefix`), as a user
 * installs the CLI: with its declared dependencies only (npm installs the peer dependencies too).
 * Installed once per test run; answers the prefix, whose `bin/qualtrics-automations` is the CLI.
 */
export const installedPrefix = (): Promise<string> => {
  prefix ??= (async () => {
    const file = await packedTarball();
    const dir = await mkdtemp(join(tmpdir(), 'qa-prefix-'));
    await run('npm', ['install', '-g', '--prefix', dir, '--no-audit', '--no-fund', '--silent', file], { cwd: dir });
    return dir;
  })();
  return prefix;
};
