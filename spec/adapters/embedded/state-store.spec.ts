import { expect } from 'chai';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStateStore, storageKey } from '../../../adapters/embedded/state-store.js';
import { wakeUpsOf } from '../../../bench/flows.js';
import { tempDir } from '../../helpers/temp.js';

describe('openStateStore', () => {
  let parent: string;
  beforeEach(() => (parent = tempDir('qa-state-parent-')));
  afterEach(() => rmSync(parent, { recursive: true, force: true }));

  it('creates the directory (mode 0700) and the environment inside it, even with a dot in its name', async () => {
    const dir = join(parent, 'nested', 'state.d');
    const state = openStateStore(dir);
    try {
      expect(statSync(dir).isDirectory()).to.equal(true);
      expect(statSync(dir).mode & 0o777).to.equal(0o700);
      expect(existsSync(join(dir, 'data.mdb'))).to.equal(true);
      expect(state.dir).to.equal(dir);
    } finally {
      await state.close();
    }
  });

  it('wakes the event loop about once a write (no overlapping sync: the flush is in the commit)', async function () {
    // With LMDB's overlapping sync, a write resolves at commit and its flush comes after, from the
    // writer thread: the event loop woke two to six times a write here, where without it the one
    // wake-up is the commit's answer. Counted, not timed: the main thread's voluntary context switches
    // (each a wait of the event loop that ended), less the timer's own between writes.
    if (!existsSync(`/proc/self/task/${process.pid}/status`)) this.skip(); // Linux's count
    const state = openStateStore(join(parent, 'state'));
    try {
      await state.dedupe.put('warm-up', 0);
      // Each write's wake-ups, with the timer's before it (a flush that comes late lands there); the
      // median, so that a collection of garbage or another timer in a few of them does not count.
      const counts: number[] = [];
      for (let i = 0; i < 15; i += 1) {
        const before = wakeUpsOf(process.pid);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await state.dedupe.put(`k${i}`, i);
        counts.push(wakeUpsOf(process.pid) - before - 1);
      }
      // 1 here; 2 to 4 with overlapping sync.
      expect(counts.sort((a, b) => a - b)[7]).to.equal(1);
    } finally {
      await state.close();
    }
  });

  it('closes once, however often it is asked', async () => {
    const state = openStateStore(join(parent, 'state'));
    await Promise.all([state.close(), state.close()]);
    expect(() => state.history.getCount()).to.throw();
  });

  it('names what failed when the directory cannot be made', () => {
    const file = join(parent, 'a-file');
    writeFileSync(file, '');
    expect(() => openStateStore(join(file, 'state'))).to.throw(/^opening the state store at .*a-file\/state: /);
  });
});

describe('storageKey', () => {
  it('keeps a short key as it is, and hashes long keys, NULs and hash look-alikes apart', () => {
    expect(storageKey('email:a@example.com:abc')).to.equal('email:a@example.com:abc');
    const long = 'x'.repeat(600);
    expect(storageKey(long)).to.match(/^#sha256:[0-9a-f]{64}$/);
    expect(storageKey(long)).not.to.equal(storageKey(`${long}y`));
    expect(storageKey('a\u0000b')).to.match(/^#sha256:/);
    const hashed = storageKey(long);
    expect(storageKey(hashed)).not.to.equal(hashed);
  });
});
