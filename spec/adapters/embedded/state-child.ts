import { once } from 'node:events';
import { EmbeddedDedupeStore } from '../../../adapters/embedded/dedupe-store.js';
import { EmbeddedHistory } from '../../../adapters/embedded/history.js';
import { openStateStore } from '../../../adapters/embedded/state-store.js';

/**
 * A second process on a state directory, for the multi-process specs: `state-child.ts <dir> <command> <n>`.
 * It prints one JSON line with its answer and exits. `acquire-race` prints `ready` first and waits for
 * a line on stdin, so the parent can start its own acquires at the same moment.
 */
const [dir, command, count] = process.argv.slice(2);
if (dir === undefined || command === undefined) throw new Error('usage: state-child.ts <dir> <command> [n]');
const n = Number(count ?? 0);
const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;
const state = openStateStore(dir);
try {
  switch (command) {
    case 'acquire-race': {
      const store = new EmbeddedDedupeStore(state);
      process.stdout.write('ready\n');
      await once(process.stdin, 'data');
      process.stdin.destroy();
      const keys = Array.from({ length: n }, (_, i) => `race-${i}`);
      // One at a time, so the two processes' transactions interleave key by key.
      const answers: string[] = [];
      for (const key of keys) answers.push(await store.acquire(key, 'child', 60_000));
      process.stdout.write(`${JSON.stringify(answers)}\n`);
      break;
    }
    case 'history-list':
      process.stdout.write(`${JSON.stringify(new EmbeddedHistory(state, { size: 100, isEntry: isObject }).list())}\n`);
      break;
    case 'history-add': {
      const history = new EmbeddedHistory(state, { size: 100, isEntry: isObject });
      for (let i = 0; i < n; i += 1) await history.add({ from: 'child', i });
      process.stdout.write('[]\n');
      break;
    }
    default:
      throw new Error(`state-child: unknown command ${command}`);
  }
} finally {
  await state.close();
}
