import { expect } from 'chai';
import {
  compareOrder,
  compareStreamPositions,
  positionCounter,
  streamPositionOf,
} from '../../../operators/model/order.js';

describe('order of positions', () => {
  it('compares stream ids by milliseconds, then sequence, then part', () => {
    expect(compareOrder('1700000000000-5', '1700000000000-12')).to.equal(-1);
    expect(compareOrder('1700000000001-0', '1700000000000-99')).to.equal(1);
    expect(compareOrder('99999999999999-0', '100000000000000-0')).to.equal(-1);
    expect(compareOrder('5-1#0', '5-1#1')).to.equal(-1);
    expect(compareOrder('5-1', '5-1#0')).to.equal(-1);
    expect(compareOrder('5-1#2', '5-1#2')).to.equal(0);
  });

  it('has no answer for positions of another shape', () => {
    expect(compareOrder('17', '5-1')).to.equal(undefined);
    expect(compareOrder('5-1', 'abc')).to.equal(undefined);
  });

  it('counts positions that increase even when the clock steps back', () => {
    let clock = 1_000;
    const next = positionCounter(() => clock);
    const a = next();
    const b = next();
    clock = 900;
    const c = next();
    clock = 2_000;
    const d = next();
    expect([a, b, c, d]).to.deep.equal(['1000-0', '1000-1', '1000-2', '2000-0']);
  });

  it('places an update in its stream only for a source that is a stream, named in full', () => {
    expect(streamPositionOf({ source: 'redis:updates', position: '5-0' })).to.equal('updates@5-0');
    expect(streamPositionOf({ source: 'journal:j', position: '5-0' })).to.equal('j@5-0');
    expect(streamPositionOf({ source: 'replay:updates', position: '5-0' })).to.equal('updates@5-0');
    // Only a prefix makes a stream, and a name runs to the end (a second line is no part of it).
    expect(streamPositionOf({ source: 'not-redis:updates', position: '5-0' })).to.equal(undefined);
    expect(streamPositionOf({ source: 'redis:updates\nmore', position: '5-0' })).to.equal(undefined);
    expect(streamPositionOf({ source: 'websocket', position: '5-0' })).to.equal(undefined);
  });

  it('compares stream positions of one stream only; a position without its stream compares with none', () => {
    expect(compareStreamPositions('s@5-0', 's@5-1')).to.equal(-1);
    expect(compareStreamPositions('s@5-0', 't@5-1')).to.equal(undefined);
    expect(compareStreamPositions('5-0', '5-1')).to.equal(undefined);
    expect(compareStreamPositions('5-0', 's@5-1')).to.equal(undefined);
    expect(compareStreamPositions('s@5-1', '5-0')).to.equal(undefined);
  });
});
