import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { EmbeddedDeliveryLog } from '../../../adapters/embedded/delivery-log.js';
import { openStateStore, type StateStore } from '../../../adapters/embedded/state-store.js';
import { compareOrder } from '../../../operators/model/order.js';
import { tempDir } from '../../helpers/temp.js';

describe('EmbeddedDeliveryLog (LMDB on disk)', () => {
  let dir: string;
  let state: StateStore;
  let now: number;
  const log = (ttlMs = 60_000) => new EmbeddedDeliveryLog(state, { compare: compareOrder, ttlMs, now: () => now });

  beforeEach(() => {
    dir = tempDir('qa-state-');
    state = openStateStore(dir);
    now = 1_000;
  });
  afterEach(async () => {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the latest position per identity, whatever order they are recorded in', async () => {
    const l = log();
    expect(l.lastDelivered('email:a@example.com')).to.equal(undefined);
    await l.recordDelivered('email:a@example.com', '1700000000000-5');
    await l.recordDelivered('email:a@example.com', '1700000000000-4');
    await l.recordDelivered('email:a@example.com', '999-0');
    expect(l.lastDelivered('email:a@example.com')).to.equal('1700000000000-5');
    await l.recordDelivered('email:a@example.com', '1700000000000-5#1');
    expect(l.lastDelivered('email:a@example.com')).to.equal('1700000000000-5#1');
    await l.recordDelivered('email:a@example.com', '1700000000001-0');
    expect(l.lastDelivered('email:a@example.com')).to.equal('1700000000001-0');
    expect(l.lastDelivered('email:b@example.com')).to.equal(undefined);
  });

  it('lets a position that cannot be ordered replace the last one', async () => {
    const l = log();
    await l.recordDelivered('id', '1700000000000-5');
    await l.recordDelivered('id', 'dead-letter-7');
    expect(l.lastDelivered('id')).to.equal('dead-letter-7');
  });

  it('keeps the later position when many records for one identity race', async () => {
    const l = log();
    const positions = Array.from({ length: 40 }, (_, i) => `1700000000000-${i}`).reverse();
    await Promise.all(positions.map((p) => l.recordDelivered('id', p)));
    expect(l.lastDelivered('id')).to.equal('1700000000000-39');
  });

  it('forgets a delivery ttlMs after it was recorded, and sweeps what it forgot', async () => {
    const l = log(1_000);
    await l.recordDelivered('old', '1-0');
    now += 500;
    await l.recordDelivered('newer', '2-0');
    now += 500;
    expect(l.lastDelivered('old')).to.equal(undefined);
    expect(l.lastDelivered('newer')).to.equal('2-0');
    // Forgotten, an older position is recorded again.
    await l.recordDelivered('old', '0-1');
    expect(l.lastDelivered('old')).to.equal('0-1');
    now += 1_000;
    expect(await l.sweep()).to.equal(2);
    expect(l.size).to.equal(0);
  });

  it('sweeps forgotten identities as it writes, so the log stays about as large as the TTL window', async () => {
    const l = log(1_000);
    for (let i = 0; i < 150; i += 1) await l.recordDelivered(`id-${i}`, `${i}-0`);
    now += 1_000;
    await l.recordDelivered('fresh', '1-0');
    expect(l.size).to.equal(150 - 100 + 1);
    await l.recordDelivered('fresh', '2-0');
    expect(l.size).to.equal(1);
  });

  it('keeps what was delivered across a close and reopen', async () => {
    await log().recordDelivered('email:a@example.com', '1700000000000-5');
    await state.close();
    state = openStateStore(dir);
    const reopened = log();
    expect(reopened.lastDelivered('email:a@example.com')).to.equal('1700000000000-5');
    await reopened.recordDelivered('email:a@example.com', '1700000000000-4');
    expect(reopened.lastDelivered('email:a@example.com')).to.equal('1700000000000-5');
  });
});
