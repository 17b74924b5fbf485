import type { FlowForgotten } from '../forgotten.js';
import { AUDIENCES, WITHDRAWALS } from './delivery-log.js';
import { storageKey, type StateStore } from './state-store.js';

/**
 * Removes what a process without Redis keeps about one person in its state directory: the dedupe
 * marks of `identityKey` (stored under `<identity key>:<fingerprint>`), its delivery-log entries, and
 * the run-history rows naming the person as `name` (the keyed hash). One transaction: a `run` using
 * the same directory sees all of it gone or none. Index lines left behind point at nothing: sweeps skip them.
 */
export const forgetInState = async (state: StateStore, identityKey: string, name: string): Promise<FlowForgotten> =>
  state.dedupe.transaction(() => {
    let dedupeMarks = 0;
    const marks = `${identityKey}:`;
    // Kept as they are unless long (then hashed, and not found by prefix: they expire with their TTL).
    for (const key of state.dedupe.getKeys({ start: marks }))
      if (typeof key === 'string' && key.startsWith(marks)) {
        void state.dedupe.remove(key);
        dedupeMarks += 1;
      } else break;
    let deliveryLog = 0;
    for (const key of [
      storageKey(identityKey),
      storageKey(`${AUDIENCES}${identityKey}`),
      storageKey(`${WITHDRAWALS}${identityKey}`),
    ])
      if (state.delivered.get(key) !== undefined) {
        void state.delivered.remove(key);
        deliveryLog += 1;
      }
    let historyRows = 0;
    for (const { key, value } of state.history.getRange({}))
      if ((value as { person?: unknown } | undefined)?.person === name) {
        void state.history.remove(key);
        historyRows += 1;
      }
    return { dedupeMarks, deliveryLog, historyRows };
  });
