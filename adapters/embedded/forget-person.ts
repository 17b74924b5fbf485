import type { FlowForgotten } from '../forgotten.js';
import { AUDIENCES, WITHDRAWALS } from './delivery-log.js';
import { storageKey, type StateStore } from './state-store.js';

/** One person to forget: their identity key (dedupe marks, delivery log) and keyed hash (history rows). */
export interface NamedPerson {
  readonly identityKey: string;
  readonly name: string;
}

/**
 * Removes what a process without Redis keeps about some people in its state directory: the dedupe
 * marks of each identity key (stored under `<identity key>:<fingerprint>`, read by prefix), their
 * delivery-log entries (looked up by key), and the run-history rows naming them by keyed hash (one pass
 * over the history for all of them). One transaction: a `run` using the same directory sees all of it
 * gone or none. Index lines left behind point at nothing: sweeps skip them. Answers what was removed,
 * per identity key.
 */
export const forgetInState = async (
  state: StateStore,
  people: readonly NamedPerson[],
): Promise<Map<string, FlowForgotten>> =>
  state.dedupe.transaction(() => {
    const removed = new Map(
      people.map(({ identityKey }) => [identityKey, { dedupeMarks: 0, deliveryLog: 0, historyRows: 0 }]),
    );
    const byName = new Map(people.map(({ identityKey, name }) => [name, removed.get(identityKey)!]));
    for (const { identityKey } of people) {
      const entry = removed.get(identityKey)!;
      const marks = `${identityKey}:`;
      // Kept as they are unless long (then hashed, and not found by prefix: they expire with their TTL).
      for (const key of state.dedupe.getKeys({ start: marks }))
        if (typeof key === 'string' && key.startsWith(marks)) {
          void state.dedupe.remove(key);
          entry.dedupeMarks += 1;
        } else break;
      for (const key of [
        storageKey(identityKey),
        storageKey(`${AUDIENCES}${identityKey}`),
        storageKey(`${WITHDRAWALS}${identityKey}`),
      ])
        if (state.delivered.get(key) !== undefined) {
          void state.delivered.remove(key);
          entry.deliveryLog += 1;
        }
    }
    for (const { key, value } of state.history.getRange({})) {
      const person = (value as { person?: unknown } | undefined)?.person;
      const entry = typeof person === 'string' ? byName.get(person) : undefined;
      if (entry) {
        void state.history.remove(key);
        entry.historyRows += 1;
      }
    }
    return removed;
  });
