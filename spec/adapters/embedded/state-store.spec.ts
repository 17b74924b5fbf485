import { expect } from 'chai';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStateStore, storageKey } from '../../../adapters/embedded/state-store.js';
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

  it('resolves a write once it is on disk, not before (no overlapping sync)', async () => {
    // With LMDB's overlapping sync a write resolves at commit and its flush comes later, from the writer
    // thread (several more wake-ups of the event loop a write). Without it, the flush is part of the
    // commit: once the write resolves, `flushed` has nothing left to wait for, and settles before even
    // the next turn of the event loop (a flush to come would need one, and an fdatasync).
    const state = openStateStore(join(parent, 'state'));
    try {
      for (let i = 0; i < 5; i += 1) {
        await state.dedupe.put(`k${i}`, i);
        const first = await Promise.race([
          Promise.resolve(state.dedupe.flushed).then(() => 'flushed'),
          new Promise((resolve) => setImmediate(resolve, 'next turn')),
        ]);
        expect(first).to.equal('flushed');
      }
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
