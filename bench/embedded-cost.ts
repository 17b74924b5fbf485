import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedDedupeStore } from '../adapters/embedded/dedupe-store.js';
import { openStateStore } from '../adapters/embedded/state-store.js';

/** What one paced update costs the process in dedupe, by way of keeping it. */
export interface EmbeddedCostResult {
  readonly work: string;
  /**
   * Process CPU (every thread: LMDB's writer is one of them) per update beyond the bare timer's; the
   * timer's own line is its whole cost.
   */
  readonly cpuUsPerUpdate: number;
}

/**
 * What goal 5's CPU without Redis is made of: the dedupe a paced update needs, one update every
 * `spacingMs` (a limit of 1000 / `spacingMs` a second), in this process, against a timer doing nothing
 * (taken off every figure). The product's own store (`EmbeddedDedupeStore`, LMDB, each write on disk
 * before it resolves) for a delivered update alone: its lease then its commit, each a transaction of
 * its own; the commit alone (at the limit, leases are taken together when the backlog arrives); five
 * commits made in one turn (one transaction), which is what gathering commits for 100 ms would give; and
 * the hand-written pipeline's dedupe, a `Set`.
 */
export const runEmbeddedCost = async (updates: number, spacingMs: number): Promise<EmbeddedCostResult[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'qa-bench-embedded-cost-'));
  const state = openStateStore(dir);
  try {
    const store = new EmbeddedDedupeStore(state);
    const seen = new Set<string>();
    let n = 0;
    // Far beyond a run: no mark expires during one, so no write sweeps expired marks.
    const TTL = 24 * 60 * 60 * 1000;
    const works: ReadonlyArray<readonly [string, (tick: number) => unknown]> = [
      ['timer only', () => undefined],
      [
        'lease, then commit (a delivered update alone)',
        async () => {
          const key = `k${n++}`;
          await store.acquire(key, 't', TTL);
          await store.commit(key, 't', TTL);
        },
      ],
      ['commit alone (at the limit)', () => store.commit(`k${n++}`, 't', TTL)],
      [
        'five commits in one turn, every fifth update',
        (tick) => tick % 5 === 4 && Promise.all(Array.from({ length: 5 }, () => store.commit(`k${n++}`, 't', TTL))),
      ],
      [
        'a Set (the hand-written pipeline)',
        () => {
          seen.add(`k${n++}`);
        },
      ],
    ];
    for (const [, work] of works) await work(4); // the first write opens LMDB's writer
    const results: EmbeddedCostResult[] = [];
    let timerUs = 0;
    for (const [name, work] of works) {
      const from = process.cpuUsage();
      for (let tick = 0; tick < updates; tick++) {
        await sleep(spacingMs);
        await work(tick);
      }
      const used = process.cpuUsage(from);
      const us = (used.user + used.system) / updates;
      if (name === 'timer only') timerUs = us;
      results.push({ work: name, cpuUsPerUpdate: name === 'timer only' ? us : us - timerUs });
    }
    return results;
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
};
