import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { forgetInState } from '../../adapters/embedded/forget-person.js';
import { openStateStore } from '../../adapters/embedded/state-store.js';
import { DeadLetterFile } from '../../adapters/file/dead-letter-file.js';
import { connectRedis, type Redis } from '../../adapters/redis/connection.js';
import { forgetInFlow, forgetInJournal } from '../../adapters/redis/forget-person.js';
import { identityKey, type IdentityRef } from '../../operators/model/envelope.js';
import type { Config, FlowConfig } from '../config/codec.js';
import { ConfigError } from '../config/errors.js';
import { journalLinePrefixOf, redisPrefixOf, stateDirOf } from '../config/paths.js';
import { groupOf } from '../intake.js';
import { maskIdentity } from '../mask.js';
import { deadLetterStoreOf, identityHasherOf } from '../wire.js';

/** A person as the command line names them: an identity namespace and an id (`Email:ann@example.com`). */
export interface Person {
  readonly namespace: string;
  readonly id: string;
}

/** `Email:ann@example.com` as a person; `where` names the argument or file line for the error. */
export const parsePerson = (text: string, where: string): Person => {
  const colon = text.indexOf(':');
  const [namespace, id] = [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
  if (colon <= 0 || id === '')
    throw new ConfigError(where, [
      `expected <namespace>:<id>, like Email:ann@example.com, got ${JSON.stringify(text)}`,
    ]);
  return { namespace, id };
};

/** A file of people, one `<namespace>:<id>` a line; blank lines and `#` comments are skipped. */
export const readPeople = async (file: string): Promise<Person[]> =>
  (await readFile(file, 'utf8')).split('\n').flatMap((line, index) => {
    const text = line.trim();
    return text === '' || text.startsWith('#') ? [] : [parsePerson(text, `${file}:${index + 1}`)];
  });

/**
 * The person as one flow identifies them, if it maps their namespace. Namespaces are matched without
 * regard to case (`email:` finds a flow's `Email`), as AEP's own namespace codes are.
 */
const identityIn = (flow: FlowConfig, person: Person): IdentityRef | undefined => {
  const wanted = person.namespace.toLowerCase();
  const mapping = flow.identities.find(({ source }) => source.toLowerCase() === wanted);
  return mapping && { namespace: mapping.source, target: mapping.target, id: person.id };
};

/** One person in one flow: who they are there, and the names they are stored under. */
interface Target {
  readonly person: number;
  readonly identity: IdentityRef;
  readonly key: string;
  readonly name: string;
}

/** Whether a dead letter holds the target's data: by its identity, or (a poison letter has none) in its payload. */
const letterOf = (letter: unknown, target: Target): boolean => {
  const { identity, payload } = (letter ?? {}) as { identity?: unknown; payload?: unknown };
  if (identity !== undefined) return identity === target.key;
  if (typeof payload !== 'string') return false;
  return target.identity.target === 'email'
    ? payload.toLowerCase().includes(target.identity.id.toLowerCase())
    : payload.includes(target.identity.id);
};

const COMPACTION_TRIES = 20;
const COMPACTION_PAUSE_MS = 250;

/**
 * Removes the targets' dead letters, in one read of the flow's store; a file is then rewritten without
 * them (a removal alone is a tombstone line beside the letter). Another process compacting it at the
 * same moment holds its lock: tried again, then reported as not done. Answers the count per target
 * (letters are counted for each target they hold) and, if the file could not be rewritten, why.
 */
const forgetDeadLetters = async (
  config: Config,
  flow: FlowConfig,
  redis: Redis | undefined,
  targets: readonly Target[],
): Promise<{ counts: number[]; notRewritten?: string }> => {
  const store = deadLetterStoreOf(config, flow, redis);
  const counts = targets.map(() => 0);
  const ids: string[] = [];
  for (const { id, letter } of await store.entries()) {
    let held = false;
    targets.forEach((target, index) => {
      if (letterOf(letter, target)) {
        counts[index]! += 1;
        held = true;
      }
    });
    if (held) ids.push(id);
  }
  if (ids.length > 0) await store.remove(ids);
  // A file is rewritten even when nothing new was found: an earlier run may have left removed lines in it.
  if (!(store instanceof DeadLetterFile) || !existsSync(store.path)) return { counts };
  for (let tries = 1; ; tries += 1) {
    const result = await store.compact();
    if (result.compacted) return { counts };
    if (tries >= COMPACTION_TRIES) return { counts, notRewritten: result.reason };
    await delay(COMPACTION_PAUSE_MS);
  }
};

/** Without Redis: the flow's state directory, opened beside a `run` that may be using it (LMDB allows it). */
const forgetInEmbeddedState = async (config: Config, flow: FlowConfig, targets: readonly Target[]) => {
  const state = openStateStore(stateDirOf(config, flow));
  try {
    const removed = await forgetInState(
      state,
      targets.map(({ key, name }) => ({ identityKey: key, name })),
    );
    return new Map(targets.map(({ key, name }) => [name, removed.get(key)!]));
  } finally {
    await state.close();
  }
};

/** What `forget` did: the report, and whether it was all it was asked for. */
export interface ForgetResult {
  readonly report: string;
  /** Some person was found nowhere (a typo in the namespace or id?), or no flow maps their namespace. */
  readonly nothingFound: boolean;
  /** A dead-letter file still holds removed letters' lines: another process kept it locked. */
  readonly incomplete: boolean;
}

/**
 * `qualtrics-automations forget`: removes everything this program holds about each person, in every
 * flow (disabled ones too): dedupe marks, delivery-log entries, run-history rows, dead letters (a
 * poison letter, which has no identity, when its payload holds the person's id), and their journal
 * entries; notes when they were forgotten, so a replay of older updates does not send them again (a
 * new update does). Without Redis, each flow's state directory and dead-letter file. One pass over each
 * flow's stores and over the journal for all the people named. Answers a report of what it removed,
 * saying so plainly for a person it found nowhere.
 */
export const forget = async (config: Config, people: readonly Person[]): Promise<ForgetResult> => {
  const redis = config.redis ? connectRedis(config.redis.url, 'qualtrics-automations:forget') : undefined;
  const lines = people.map((): string[] => []);
  const totals = people.map(() => 0);
  const shown = people.map((): string | undefined => undefined);
  const allNames = new Set<string>();
  const namesOf = people.map(() => new Set<string>());
  let incomplete = false;
  try {
    for (const flow of config.flows) {
      const hasher = identityHasherOf(config, redis, flow);
      const targets: Target[] = [];
      for (const [index, person] of people.entries()) {
        const identity = identityIn(flow, person);
        if (!identity) continue;
        const key = identityKey(identity);
        targets.push({ person: index, identity, key, name: await hasher.hash(key) });
      }
      if (targets.length === 0) continue;
      const removed = redis
        ? await forgetInFlow(
            redis,
            redisPrefixOf(config, flow),
            targets.map(({ name }) => name),
          )
        : await forgetInEmbeddedState(config, flow, targets);
      const letters = await forgetDeadLetters(config, flow, redis, targets);
      targets.forEach((target, index) => {
        const { dedupeMarks, deliveryLog, historyRows } = removed.get(target.name)!;
        const deadLetters = letters.counts[index]!;
        // Masked as in logs and history: the report may be kept as proof of the erasure.
        shown[target.person] ??= maskIdentity(target.identity);
        allNames.add(target.name);
        namesOf[target.person]!.add(target.name);
        totals[target.person]! += dedupeMarks + deliveryLog + historyRows + deadLetters;
        lines[target.person]!.push(
          `  flow ${flow.name}: ${dedupeMarks} dedupe mark(s), ${deliveryLog} delivery-log ` +
            `entr(ies), ${historyRows} history row(s), ${deadLetters} dead letter(s)`,
        );
      });
      if (letters.notRewritten !== undefined) {
        incomplete = true;
        lines[targets[0]!.person]!.push(
          `  flow ${flow.name}: the dead-letter file still holds removed letters' lines (${letters.notRewritten}): ` +
            'run forget again once that process is done, to rewrite it',
        );
      }
    }
    const { journal } = config;
    let journalLine: string | undefined;
    if (journal && redis && allNames.size > 0) {
      const groups = config.flows.map((flow) => groupOf(config, flow, journal.group));
      const part = await forgetInJournal(
        redis,
        { stream: journal.stream, linePrefix: journalLinePrefixOf(config), groups },
        allNames,
      );
      for (const [index, names] of namesOf.entries())
        for (const name of names) totals[index]! += part.byName.get(name) ?? 0;
      journalLine =
        `  journal ${journal.stream}: ${part.removed} entr(ies) removed` +
        (part.keptShared > 0 ? `, ${part.keptShared} kept (they also hold other people's profiles)` : '');
    }
    const report: string[] = [];
    let nothingFound = false;
    for (const [index, person] of people.entries()) {
      const who = shown[index];
      if (who === undefined) {
        nothingFound = true;
        report.push(`${person.namespace}:***: no flow maps identity namespace ${person.namespace}; nothing to forget`);
        continue;
      }
      if (totals[index] === 0) {
        nothingFound = true;
        report.push(`${who}: nothing found in any flow or the journal (check the namespace and the id)`);
        continue;
      }
      report.push(`forgot ${who}:`, ...lines[index]!);
    }
    if (journalLine !== undefined && totals.some((total) => total > 0)) report.push(journalLine);
    return { report: `${report.join('\n')}\n`, nothingFound, incomplete };
  } finally {
    await redis?.quit().catch(() => redis.disconnect());
  }
};
