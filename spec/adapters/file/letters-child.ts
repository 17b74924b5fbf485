import { once } from 'node:events';
import { DeadLetterFile } from '../../../adapters/file/dead-letter-file.js';

/**
 * Another process writing dead letters, as `run` does: `letters-child.ts <file> <count> <tag>` prints
 * `ready`, waits for a line on stdin, appends `count` letters (payload `<tag>-<i>`), prints `done`.
 */
const [path, count, tag] = process.argv.slice(2);
if (path === undefined || count === undefined || tag === undefined) {
  throw new Error('usage: letters-child.ts <file> <count> <tag>');
}
const letters = new DeadLetterFile(path);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.destroy();
for (let i = 0; i < Number(count); i += 1) {
  const [at, payload, position] = [new Date().toISOString(), `${tag}-${i}`, `${i}-0`];
  await letters.add({ at, reason: 'http-400', attempts: 1, payload, source: 'test', position });
}
process.stdout.write('done\n');
