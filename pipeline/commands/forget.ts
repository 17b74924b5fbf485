import { readFile } from 'node:fs/promises';
import { forgetInState } from '../../adapters/embedded/forget-person.js';
import { openStateStore } from '../../adapters/embedded/state-store.js';
import { DeadLetterFile } from '../../adapters/file/dead-letter-file.js';
import { connectRedis, type Redis } from '../../adapters/redis/connection.js';
import { RedisDeadLetterStream } from '../../adapters/redis/dead-letter-stream.js';
import { forgetInFlow, forgetInJournal } from '../../adapters/redis/forget-person.js';
import { identityKey, type IdentityRef } from '../../operators/model/envelope.js';
import type { Config, FlowConfig } from '../config/codec.js';
import { ConfigError } from '../config/errors.js';
import { defaultDeadLetterFile, journalLinePrefixOf, redisPrefixOf, stateDirOf } from '../config/paths.js';
import { groupOf } from '../intake.js';
import { maskIdentity } from '../mask.js';
import { identityHasherOf } from '../wire.js';

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

/** The person as one flow identifies them, if it maps their namespace. */
const identityIn = (flow: FlowConfig, person: Person): IdentityRef | undefined => {
  const mapping = flow.identities.find(({ source }) => source === person.namespace);
  return mapping && { namespace: person.namespace, target: mapping.target, id: person.id };
};

/** Where `run` keeps a flow's dead letters (see wire.ts): a file named in the config, Redis, or the default file. */
const deadLettersOf = (config: Config, flow: FlowConfig, redis: Redis | undefined) =>
  flow.deadLetters?.file || !redis
    ? new DeadLetterFile(flow.deadLetters?.file ?? defaultDeadLetterFile(config, flow))
    : new RedisDeadLetterStream(redis, redisPrefixOf(config, flow));

/** Removes a person's dead letters (they keep the identity key beside the payload); a file is rewritten without them. */
const forgetDeadLetters = async (
  config: Config,
  flow: FlowConfig,
  redis: Redis | undefined,
  key: string,
): Promise<number> => {
  const store = deadLettersOf(config, flow, redis);
  const ids = (await store.entries()).flatMap(({ id, letter }) =>
    (letter as { identity?: unknown } | undefined)?.identity === key ? [id] : [],
  );
  await store.remove(ids);
  // A removal in a file is a tombstone line: compacting drops the letter's own line too.
  if (store instanceof DeadLetterFile && ids.length > 0) await store.compact();
  return ids.length;
};

/** Without Redis: the flow's state directory, opened beside a `run` that may be using it (LMDB allows it). */
const forgetInEmbeddedState = async (config: Config, flow: FlowConfig, key: string, name: string) => {
  const state = openStateStore(stateDirOf(config, flow));
  try {
    return await forgetInState(state, key, name);
  } finally {
    await state.close();
  }
};

/**
 * `qualtrics-automations forget`: removes everything this program holds about each person, in every
 * flow (disabled ones too): dedupe marks, delivery-log entries, run-history rows, dead letters, and
 * their journal entries; notes when they were forgotten, so a replay of older updates does not send
 * them again (a new update does). Without Redis, each flow's state directory and dead-letter file.
 * Answers a report of what it removed.
 */
export const forget = async (config: Config, people: readonly Person[]): Promise<string> => {
  const redis = config.redis ? connectRedis(config.redis.url, 'qualtrics-automations:forget') : undefined;
  const lines: string[] = [];
  try {
    for (const person of people) {
      const flows = config.flows.flatMap((flow) => {
        const identity = identityIn(flow, person);
        return identity ? [{ flow, identity }] : [];
      });
      const [first] = flows;
      if (!first) {
        lines.push(`${person.namespace}:***: no flow maps identity namespace ${person.namespace}; nothing to forget`);
        continue;
      }
      // Masked as in logs and history: the report may be kept as proof of the erasure.
      lines.push(`forgot ${maskIdentity(first.identity)}:`);
      const names = new Set<string>();
      for (const { flow, identity } of flows) {
        const key = identityKey(identity);
        const name = await identityHasherOf(config, redis, flow).hash(key);
        names.add(name);
        const removed = redis
          ? await forgetInFlow(redis, redisPrefixOf(config, flow), name)
          : await forgetInEmbeddedState(config, flow, key, name);
        const letters = await forgetDeadLetters(config, flow, redis, key);
        lines.push(
          `  flow ${flow.name}: ${removed.dedupeMarks} dedupe mark(s), ${removed.deliveryLog} delivery-log ` +
            `entr(ies), ${removed.historyRows} history row(s), ${letters} dead letter(s)`,
        );
      }
      const { journal } = config;
      if (journal && redis) {
        const groups = config.flows.map((flow) => groupOf(config, flow, journal.group));
        let removed = 0;
        let keptShared = 0;
        for (const name of names) {
          const part = await forgetInJournal(
            redis,
            { stream: journal.stream, linePrefix: journalLinePrefixOf(config), groups },
            name,
          );
          removed += part.removed;
          keptShared += part.keptShared;
        }
        lines.push(
          `  journal ${journal.stream}: ${removed} entr(ies) removed` +
            (keptShared > 0 ? `, ${keptShared} kept (they also hold other people's profiles)` : ''),
        );
      }
    }
  } finally {
    await redis?.quit().catch(() => redis.disconnect());
  }
  return `${lines.join('\n')}\n`;
};
