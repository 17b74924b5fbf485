import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeadLetterFile, UNREADABLE_LINE } from '../../../adapters/file/dead-letter-file.js';
import { tempDir } from '../../helpers/temp.js';

const CHILD = fileURLToPath(new URL('./letters-child.ts', import.meta.url));

const letter = (payload: string) => ({
  at: '2026-01-01T00:00:00.000Z',
  reason: 'http-400',
  attempts: 1,
  payload,
  source: 'test',
  position: '1-0',
});
const reasonOf = (entry: { letter: unknown }): string => String((entry.letter as { reason?: unknown }).reason);
const payloadOf = (entry: { letter: unknown }): string => String((entry.letter as { payload?: unknown }).payload);
const fileLines = (path: string): string[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '');

/** A process appending `count` letters to `path` once told to go. */
const startAppender = (path: string, count: number, tag: string): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(count), tag], { stdio: ['pipe', 'pipe', 'pipe'] });

const untilPrinted = (child: ChildProcess, line: string): Promise<void> =>
  new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`appender exited (${code}) before printing ${line}: ${err}`)));
  });

describe('DeadLetterFile', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = tempDir('qa-dead-letters-');
    path = join(dir, 'letters', 'dead.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends letters with ids of their own, as JSON lines in a file made 0600; lists them oldest first', async () => {
    const file = new DeadLetterFile(path);
    expect(await file.entries()).to.deep.equal([]);
    expect(await file.size()).to.equal(0);
    await Promise.all(['a', 'b', 'c'].map((p) => file.add(letter(p))));
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    const lines = fileLines(path).map((line) => JSON.parse(line) as { id: string; payload: string });
    expect(lines.map((l) => l.payload)).to.deep.equal(['a', 'b', 'c']);
    const entries = await file.entries();
    expect(entries.map(payloadOf)).to.deep.equal(['a', 'b', 'c']);
    expect(entries.map((e) => e.id)).to.deep.equal(lines.map((l) => l.id));
    expect(entries[0]!.letter).to.deep.equal(lines[0]);
    expect(await file.list()).to.deep.equal(lines);
    expect(await file.size()).to.equal(3);
  });

  it('removes by appending a tombstone: nothing is rewritten, removed letters stay removed', async () => {
    const file = new DeadLetterFile(path);
    for (const p of ['a', 'b', 'c']) await file.add(letter(p));
    const before = readFileSync(path, 'utf8');
    const [a, , c] = await file.entries();
    await file.remove([a!.id, c!.id]);
    await file.add(letter('d'));
    expect(readFileSync(path, 'utf8').startsWith(before)).to.equal(true);
    expect(fileLines(path)[3]).to.equal(JSON.stringify({ removed: [a!.id, c!.id] }));
    expect((await file.entries()).map(payloadOf)).to.deep.equal(['b', 'd']);
    expect(await file.size()).to.equal(2);
    // Removing again, or removing what is not there, changes nothing.
    await file.remove([a!.id, 'no-such-letter']);
    await file.remove([]);
    expect(await file.size()).to.equal(2);
  });

  it('keeps a letter removed even when a copy of it is appended after its tombstone', async () => {
    const file = new DeadLetterFile(path);
    await file.add(letter('a'));
    const [a] = fileLines(path);
    const { id } = JSON.parse(a!) as { id: string };
    await file.remove([id]);
    appendFileSync(path, `${a}\n${a}\n`);
    expect(await file.entries()).to.deep.equal([]);
    expect(await file.size()).to.equal(0);
  });

  it('reads a file from before ids and tombstones: each letter is `line-<n>` and can be removed', async () => {
    const legacy = join(dir, 'legacy.jsonl');
    writeFileSync(legacy, `${JSON.stringify(letter('old-1'))}\n${JSON.stringify(letter('old-2'))}\n`);
    const file = new DeadLetterFile(legacy);
    expect((await file.entries()).map((e) => e.id)).to.deep.equal(['line-1', 'line-2']);
    await file.remove(['line-1']);
    await file.add(letter('new'));
    expect((await file.entries()).map(payloadOf)).to.deep.equal(['old-2', 'new']);
  });

  it('lists a line a crash tore as unreadable (not skipped, not fatal); the next append starts anew', async () => {
    const file = new DeadLetterFile(path);
    await file.add(letter('a'));
    appendFileSync(path, '{"id":"torn","reas');
    // A torn last line looks like one being written: not counted until it ends.
    expect((await file.entries()).map(payloadOf)).to.deep.equal(['a']);
    expect(await file.size()).to.equal(1);
    await file.add(letter('b'));
    const entries = await file.entries();
    expect(entries.map(reasonOf)).to.deep.equal(['http-400', UNREADABLE_LINE, 'http-400']);
    expect(entries[1]!.letter).to.deep.include({ text: '{"id":"torn","reas' });
    expect(entries[1]!.id).to.match(/^line-2-[0-9a-f]{12}$/);
    expect(payloadOf(entries[2]!)).to.equal('b');
    expect(await file.size()).to.equal(3);
    await file.remove([entries[1]!.id]);
    expect(await file.size()).to.equal(2);
  });

  it('counts with size() by reading only what was appended since its last call, whoever appended it', async () => {
    const file = new DeadLetterFile(path);
    const other = new DeadLetterFile(path);
    for (let i = 0; i < 200; i += 1) await file.add(letter(`p${i}`));
    expect(await file.size()).to.equal(200);
    expect(file.bytesCounted).to.equal(statSync(path).size);
    const before = statSync(path).size;
    await other.add(letter('from another writer'));
    const [first] = await file.entries();
    await other.remove([first!.id]);
    expect(await file.size()).to.equal(200);
    expect(file.bytesCounted).to.equal(statSync(path).size);
    expect(file.bytesCounted - before).to.be.below(400);
    // Nothing new: nothing read.
    await file.size();
    expect(file.bytesCounted).to.equal(statSync(path).size);
  });

  it('starts counting over when the file is replaced, truncated or deleted', async () => {
    const file = new DeadLetterFile(path, { compactAfter: 0 });
    for (const p of ['a', 'b', 'c']) await file.add(letter(p));
    expect(await file.size()).to.equal(3);
    const [a] = await file.entries();
    await file.remove([a!.id]);
    expect(await file.compact()).to.deep.equal({ compacted: true, kept: 2, dropped: 1 });
    expect(await file.size()).to.equal(2);
    writeFileSync(path, `${JSON.stringify({ id: 'x', ...letter('x') })}\n`);
    expect(await file.size()).to.equal(1);
    rmSync(path);
    expect(await file.size()).to.equal(0);
  });

  it('compacts once removed letters pile up: live letters and their ids stay, the rest is gone', async () => {
    const file = new DeadLetterFile(path, { compactAfter: 4 });
    for (let i = 0; i < 8; i += 1) await file.add(letter(`p${i}`));
    const ids = (await file.entries()).map((e) => e.id);
    await file.remove(ids.slice(0, 3));
    expect(fileLines(path)).to.have.length(9);
    await file.remove(ids.slice(3, 4));
    // 4 removed, 4 live: compacted, with one tombstone for the letters dropped now.
    const lines = fileLines(path);
    expect(lines).to.have.length(5);
    expect(JSON.parse(lines[4]!)).to.deep.equal({ removed: ids.slice(0, 4) });
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect((await file.entries()).map((e) => e.id)).to.deep.equal(ids.slice(4));
    expect(await file.size()).to.equal(4);
    await file.add(letter('after'));
    expect((await file.entries()).map(payloadOf)).to.deep.equal(['p4', 'p5', 'p6', 'p7', 'after']);
  });

  it('keeps the ids of old letters and unreadable lines through a compaction', async () => {
    const legacy = join(dir, 'legacy.jsonl');
    writeFileSync(legacy, `${JSON.stringify(letter('old'))}\nnot json\n${JSON.stringify(letter('gone'))}\n`);
    const file = new DeadLetterFile(legacy, { compactAfter: 0 });
    const before = await file.entries();
    await file.remove(['line-3']);
    expect((await file.compact()).compacted).to.equal(true);
    const withIds = before.slice(0, 2).map((e) => ({ id: e.id, letter: { ...(e.letter as object), id: e.id } }));
    expect(await file.entries()).to.deep.equal(withIds);
    await file.remove([before[1]!.id]);
    expect((await file.entries()).map((e) => e.id)).to.deep.equal(['line-1']);
  });

  it('leaves compaction to the process holding the lock, and breaks a lock whose process is gone', async () => {
    const file = new DeadLetterFile(path, { compactAfter: 0 });
    await file.add(letter('a'));
    const [a] = await file.entries();
    await file.add(letter('b'));
    await file.remove([a!.id]);
    const lock = `${path}.lock`;
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'live' }));
    expect(await file.compact()).to.deep.equal({ compacted: false, reason: `another compaction holds ${lock}` });
    expect(fileLines(path)).to.have.length(3);

    const gone = spawn(process.execPath, ['-e', '0']);
    await once(gone, 'exit');
    writeFileSync(lock, JSON.stringify({ pid: gone.pid, host: hostname(), nonce: 'dead' }));
    expect(await file.compact()).to.deep.equal({ compacted: true, kept: 1, dropped: 1 });
    expect(() => statSync(lock)).to.throw(/ENOENT/);
  });

  it('loses no letter another process appends while this one removes and compacts, again and again', async function () {
    this.timeout(60_000);
    const count = 1_500;
    const redrive = new DeadLetterFile(path, { compactAfter: 0 });
    for (let i = 0; i < 600; i += 1) await redrive.add(letter(`old-${i}`));
    const old = (await redrive.entries()).map((e) => e.id);

    const child = startAppender(path, count, 'run');
    const done = untilPrinted(child, 'done');
    await untilPrinted(child, 'ready');
    child.stdin?.end('go\n');
    let finished = false;
    void done.then(() => (finished = true));
    let compactions = 0;
    // Remove the old letters in batches, compacting after each, for as long as the other process writes.
    for (let batch = 0; !finished || batch * 20 < old.length; batch += 1) {
      const ids = old.slice(batch * 20, batch * 20 + 20);
      if (ids.length > 0) await redrive.remove(ids);
      if ((await redrive.compact()).compacted) compactions += 1;
    }
    await done;

    const payloads = (await redrive.entries()).map(payloadOf);
    expect(payloads.filter((p) => p.startsWith('old-'))).to.deep.equal([]);
    const expected = Array.from({ length: count }, (_, i) => `run-${i}`);
    expect(payloads.filter((p) => p.startsWith('run-')).sort()).to.deep.equal(expected.sort());
    expect(payloads).to.have.length(count);
    expect(await new DeadLetterFile(path).size()).to.equal(count);
    expect(compactions).to.be.greaterThan(10);
  });
});
