#!/usr/bin/env node
// `npm start` runs this first: builds only when a source is newer than the build, so a start after no
// change does not wait for the compiler. Usage: node scripts/build-if-stale.mjs [package root]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const SOURCES = ['pipeline', 'operators', 'adapters', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
const BUILT = join(root, 'dist', 'pipeline', 'cli.js');

/** The newest modification time of a file or of any file under a folder. */
const newest = (path) => {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
};

const built = existsSync(BUILT) ? statSync(BUILT).mtimeMs : 0;
const changed = Math.max(...SOURCES.map((source) => newest(join(root, source))));
if (built >= changed) {
  console.log('build is up to date');
} else {
  console.log(built === 0 ? 'no build yet: building' : 'sources changed since the last build: building');
  const { status } = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  process.exitCode = status ?? 1;
}
