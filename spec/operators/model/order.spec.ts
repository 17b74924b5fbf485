import { expect } from 'chai';
import { compareOrder, positionCounter } from '../../../operators/model/order.js';

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
});
