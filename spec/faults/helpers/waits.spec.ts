import { expect } from 'chai';
import { deliveredOrSettled } from './waits.js';

/**
 * The fault suite's "wait for the deliveries" must count updates delivered, not requests accepted. A
 * SIGKILL between Qualtrics' 2xx and recording it makes the next process send that update again (an
 * allowed repeat); counted as a delivery, the repeat ended the wait one update early, the scenario
 * stopped the restarted process with its last update still waiting for a rate-limit slot, and that
 * update (released, still pending in the journal) was reported as lost ("SIGKILL with the journal,
 * then a restart", killed-147 of 150).
 */
describe('fault suite: deliveredOrSettled', () => {
  const body = (email: string): { body: string } => ({
    body: JSON.stringify({ identityMap: { Email: [{ id: email }] } }),
  });
  const neverSettled = { settled: async () => false };

  /** Whether `wait` resolved within `ms` (the helper looks every 250 ms). */
  const resolvedWithin = (wait: Promise<void>, ms: number): Promise<boolean> =>
    Promise.race([wait.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

  it('does not count a repeat as another update delivered: with a, b, a accepted it waits for the third', async () => {
    const accepted = [body('a'), body('b'), body('a')];
    const wait = deliveredOrSettled({ accepted: () => accepted }, neverSettled, 3, 5_000);
    wait.catch(() => {});
    expect(await resolvedWithin(wait, 600), 'resolved with two of three delivered').to.equal(false);
    accepted.push(body('c'));
    expect(await resolvedWithin(wait, 1_000), 'resolves once the third is delivered').to.equal(true);
  });

  it('resolves at once when every update was accepted, and when the run settled with fewer', async () => {
    const all = { accepted: () => [body('a'), body('b')] };
    expect(await resolvedWithin(deliveredOrSettled(all, neverSettled, 2, 5_000), 100)).to.equal(true);
    const one = { accepted: () => [body('a')] };
    expect(await resolvedWithin(deliveredOrSettled(one, { settled: async () => true }, 2, 5_000), 100)).to.equal(true);
  });
});
