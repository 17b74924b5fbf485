import { expect } from 'chai';
import { MemoryDeliveryLog } from '../../../adapters/memory/delivery-log.js';
import { compareOrder } from '../../../operators/model/order.js';

describe('MemoryDeliveryLog', () => {
  it('keeps the latest position per identity: an older one never replaces a newer one', () => {
    const log = new MemoryDeliveryLog({ compare: compareOrder });
    log.recordDelivered('email:ann@example.com', '5-0');
    log.recordDelivered('email:ann@example.com', '3-0');
    expect(log.lastDelivered('email:ann@example.com')).to.equal('5-0');
    log.recordDelivered('email:ann@example.com', '7-0');
    expect(log.lastDelivered('email:ann@example.com')).to.equal('7-0');
    expect(log.lastDelivered('email:ben@example.com')).to.equal(undefined);
  });

  it('records a position that cannot be ordered against the last one (it was delivered after it)', () => {
    const log = new MemoryDeliveryLog({ compare: compareOrder });
    log.recordDelivered('k', '5-0');
    log.recordDelivered('k', 'not-a-stream-id');
    expect(log.lastDelivered('k')).to.equal('not-a-stream-id');
  });

  it('forgets the least recently delivered identity past maxEntries; a lookup is not a delivery', () => {
    const log = new MemoryDeliveryLog({ compare: compareOrder, maxEntries: 2 });
    log.recordDelivered('a', '1-0');
    log.recordDelivered('b', '2-0');
    expect(log.lastDelivered('a')).to.equal('1-0');
    log.recordDelivered('c', '3-0');
    expect([log.lastDelivered('a'), log.lastDelivered('b'), log.lastDelivered('c')]).to.deep.equal([
      undefined,
      '2-0',
      '3-0',
    ]);
    // A delivery does make it recent: now b is the oldest.
    log.recordDelivered('b', '4-0');
    log.recordDelivered('d', '5-0');
    expect(log.lastDelivered('c')).to.equal(undefined);
    expect(log.lastDelivered('b')).to.equal('4-0');
  });

  it('counts the same position delivered again as a delivery: the identity becomes the most recent', () => {
    const log = new MemoryDeliveryLog({ compare: compareOrder, maxEntries: 2 });
    log.recordDelivered('a', '1-0');
    log.recordDelivered('b', '2-0');
    // Delivered again (a redelivery): not older than the last, so recorded, and now b is the oldest.
    log.recordDelivered('a', '1-0');
    log.recordDelivered('c', '3-0');
    expect([log.lastDelivered('a'), log.lastDelivered('b'), log.lastDelivered('c')]).to.deep.equal([
      '1-0',
      undefined,
      '3-0',
    ]);
  });
});
