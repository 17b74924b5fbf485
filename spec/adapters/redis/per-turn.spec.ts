import { expect } from 'chai';
import { perTurn } from '../../../adapters/redis/per-turn.js';

describe('perTurn', () => {
  it('runs the calls of one turn as one batch, in call order, and answers each its own result', async () => {
    const batches: number[][] = [];
    const double = perTurn(async (batch: readonly number[]) => {
      batches.push([...batch]);
      return batch.map((n) => n * 2);
    });
    const first = await Promise.all([double(1), double(2), double(3)]);
    const later = await double(4);
    expect(first).to.deep.equal([2, 4, 6]);
    expect(later).to.equal(8);
    expect(batches).to.deep.equal([[1, 2, 3], [4]]);
  });

  it('fails every call of a batch that fails, whether it throws or rejects, and goes on', async () => {
    let calls = 0;
    const flaky = perTurn((batch: readonly string[]) => {
      calls += 1;
      if (calls === 1) throw new Error('down');
      if (calls === 2) return Promise.reject(new Error('still down'));
      return Promise.resolve(batch);
    });
    const settled = async (call: Promise<string>) => call.then(String, (e: Error) => `failed: ${e.message}`);
    expect(await Promise.all([settled(flaky('a')), settled(flaky('b'))])).to.deep.equal([
      'failed: down',
      'failed: down',
    ]);
    expect(await settled(flaky('c'))).to.equal('failed: still down');
    expect(await settled(flaky('d'))).to.equal('d');
  });

  it('fails the calls of a batch answered with a result missing', async () => {
    const short = perTurn(async (batch: readonly number[]) => batch.slice(1));
    const results = await Promise.allSettled([short(1), short(2)]);
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).to.deep.equal([
      'a batch of 2 calls was answered with 1 results',
      'a batch of 2 calls was answered with 1 results',
    ]);
  });
});
