import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from '../../adapters/redis/connection.js';
import { RedisDeadLetterStream } from '../../adapters/redis/dead-letter-stream.js';
import { DeadLetterFile } from '../../adapters/file/dead-letter-file.js';
import { takeLock } from '../../adapters/file/compaction-lock.js';
import { loadChain } from '../../pipeline/chain.js';
import { openStateStore } from '../../adapters/embedded/state-store.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startReplay } from '../../pipeline/replay.js';
import { startFromConfig } from '../../pipeline/run.js';
import { CliProcesses } from '../helpers/cli.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { TestWebSocketServer } from '../helpers/ws-server.js';

const ANN = 'Ann.Private@Example.com';
const BOB = 'bob.other@example.com';
const HASH_KEY = 'privacy-spec-identity-hash-key-0123456789';

const profile = (email: string, firstName: string) => ({
  person: { name: { firstName } },
  identityMap: { Email: [{ id: email }] },
  segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' } } },
});

/** Every key name under the prefix, and every value each holds (strings, lists, hashes, streams), as one text. */
const everything = async (redis: Redis, prefix: string): Promise<{ names: string[]; text: string }> => {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`, 'COUNT', 500);
    cursor = next;
    names.push(...keys);
  } while (cursor !== '0');
  const values: unknown[] = [];
  for (const name of names) {
    const type = await redis.type(name);
    if (type === 'string') values.push(await redis.get(name));
    else if (type === 'list') values.push(await redis.lrange(name, 0, -1));
    else if (type === 'hash') values.push(await redis.hgetall(name));
    else if (type === 'stream') values.push(await redis.xrange(name, '-', '+'));
  }
  return { names, text: JSON.stringify(values) };
};

/**
 * What both tests set up: a feed, a destination that accepts and one that refuses, a directory for the config and
 * letters.
 */
const setUp = async (prefix: string) => {
  const feed = await TestWebSocketServer.start();
  const accepting = await QualtricsStandIn.start({ apiToken: 't' });
  const refusing = await QualtricsStandIn.start({ apiToken: 't', respond: () => ({ status: 400, body: {} }) });
  const dir = tempDir(prefix);
  return {
    feed,
    accepting,
    refusing,
    dir,
    letters: join(dir, 'letters.jsonl'),
    file: join(dir, 'config.yaml'),
    close: () => Promise.all([feed.close(), accepting.close(), refusing.close()]),
  };
};

/** A dead letter as the intake writes one for a poison stream entry: no identity field, the raw message as payload. */
const poison = (email: string) => ({
  at: new Date().toISOString(),
  reason: 'poison',
  response: 'handed out 5 times without an outcome',
  attempts: 5,
  payload: JSON.stringify(profile(email, 'Poison')),
  source: 'redis:feed',
  position: '1-0',
});

describe('privacy of what is stored: hashed identities in Redis, and forget', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  const fixture = new RedisFixture();
  afterEach(async () => {
    processes.killAll();
    await fixture.cleanup();
  });

  it('names people by a keyed hash in Redis; forget leaves no trace in Redis, files or history, and a replay does not bring them back', async () => {
    const { feed, accepting, refusing, dir, letters, file, close } = await setUp('qa-privacy-');
    const flow = (name: string, url: string, more = '') => `
  - name: ${name}
    destination: { url: "${url}", apiToken: t, auth: header, allowAnyHost: true, retry: { maxAttempts: 1 } }
    audiences: [{ id: a1 }]
    identities: [{ source: Email, target: email }]
    attributes: [{ source: person.name.firstName, target: firstName }]${more}`;
    writeFileSync(
      file,
      `
name: Privacy
source: { websocket: { url: "${feed.url}" } }
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
journal: { stream: "${fixture.prefix}:journal" }
privacy: { identityHashKey: ${HASH_KEY} }
flows:${flow('nps', accepting.url)}${flow('churn', refusing.url)}${flow('files', refusing.url, `\n    deadLetters: { file: ${letters} }`)}
`,
    );
    const redis = fixture.connect();
    try {
      const config = await loadConfig(file, {});
      const sendAndStop = async (messages: unknown[], settled: number) => {
        const started = await startFromConfig(config, silentLogger());
        const socket = await feed.connection(feed.connections.length + 1);
        for (const message of messages) socket.send(JSON.stringify(message));
        await Promise.all(started.flows.map(({ pipeline }) => pipeline.ledger.whenSettled(settled)));
        await started.stop();
      };
      // Ann alone, then Ann and Bob in one message.
      await sendAndStop([profile(ANN, 'Ann'), [profile(ANN, 'Annie'), profile(BOB, 'Bob')]], 3);
      expect(accepting.requests).to.have.length(3);

      const name = createHmac('sha256', HASH_KEY).update(`email:${ANN.toLowerCase()}`).digest('base64url');
      const before = await everything(redis, fixture.prefix);
      // Ann's keys exist, under her hashed name; no key name holds her email, nor does any stream field
      // but the payload (the journal's `profile`, the dead letter's `letter`).
      expect(before.names.some((key) => key.includes(name))).to.equal(true);
      for (const key of before.names) expect(key.toLowerCase()).not.to.include('ann.private');
      const journal = await redis.xrange(`${fixture.prefix}:journal`, '-', '+');
      const dead = await redis.xrange(`${fixture.prefix}:churn:dead`, '-', '+');
      expect(dead).to.have.length(3);
      for (const [, fields] of [...journal, ...dead])
        for (let i = 0; i < fields.length; i += 2)
          if (fields[i] !== 'profile' && fields[i] !== 'letter')
            expect(fields[i + 1]!.toLowerCase(), fields[i]).not.to.include('ann.private');
      expect(statSync(letters).mode & 0o777).to.equal(0o600);
      expect(readFileSync(letters, 'utf8').toLowerCase()).to.include('ann.private');

      // A poison letter has no identity field: found by its payload.
      await new RedisDeadLetterStream(redis, `${fixture.prefix}:churn`).add(poison(ANN));
      await new RedisDeadLetterStream(redis, `${fixture.prefix}:churn`).add(poison(BOB));
      // A namespace that no flow maps, or a person held nowhere: said plainly, and not a success.
      const typo = await processes.run(['forget', '--config', file, '--identity', 'Email:nobody@example.com']);
      expect(typo.stdout).to.equal(
        'Email:n***@example.com: nothing found in any flow or the journal (check the namespace and the id)\n',
      );
      expect(typo.code).to.equal(2);
      // The namespace in any case: `email:` finds the flows' `Email`.
      const result = await processes.run(['forget', '--config', file, '--identity', `email:${ANN}`]);
      expect(result.stderr).to.equal('');
      expect(result.stdout).to.equal(
        [
          'forgot Email:A***@Example.com:',
          '  flow nps: 2 dedupe marks, 2 delivery-log entries, 2 history rows, 0 dead letters',
          '  flow churn: 0 dedupe marks, 1 delivery-log entry, 2 history rows, 3 dead letters',
          '  flow files: 0 dedupe marks, 1 delivery-log entry, 2 history rows, 2 dead letters',
          `  journal ${fixture.prefix}:journal: 1 entry removed, 1 kept (they also hold other people's profiles)`,
          '',
        ].join('\n'),
      );
      expect(result.code).to.equal(0);

      // No trace: no key names her (but the note of when she was forgotten), no value holds her hash
      // or email but the one message she shares with Bob; Bob is untouched.
      const after = await everything(redis, fixture.prefix);
      expect(after.names.filter((key) => key.includes(name)).sort()).to.deep.equal(
        ['churn', 'files', 'nps'].map((flow) => `${fixture.prefix}:${flow}:forgotten:${name}`),
      );
      expect(after.names.filter((key) => key.includes(name) && !key.includes(':forgotten:'))).to.deep.equal([]);
      const shared = JSON.stringify(await redis.xrange(`${fixture.prefix}:journal`, '-', '+'));
      expect(after.text.split(name).length - 1).to.equal(shared.split(name).length - 1);
      expect(after.text.toLowerCase().split('ann.private').length - 1).to.equal(
        shared.toLowerCase().split('ann.private').length - 1,
      );
      expect(after.text).to.include('b***@example.com');
      expect(readFileSync(letters, 'utf8').toLowerCase()).not.to.include('ann.private');
      expect(readFileSync(letters, 'utf8')).to.include(BOB);
      // Rewritten without her letters, still private.
      expect(statSync(letters).mode & 0o777).to.equal(0o600);

      // A replay of the whole journal sends nothing for her: the message she shares is older than forget.
      const flows = [{ flow: config.flows[0]!, chain: await loadChain(config.flows[0]!, dir) }];
      const replay = await startReplay(
        config,
        flows,
        { stream: `${fixture.prefix}:journal`, from: '-', to: '+', field: 'profile' },
        silentLogger(),
      );
      const replayed = await replay.done;
      expect(replayed.counts.excluded).to.deep.equal({ forgotten: 1 });
      expect(replayed.counts.duplicate).to.equal(1);
      expect(accepting.requests).to.have.length(3);
      // The replay's history rows name their person by keyed hash, as run's do: forget finds them.
      const rows = (await redis.lrange(`${fixture.prefix}:nps:history`, 0, -1)).map(
        (row) => JSON.parse(row) as { person?: string; reason?: string },
      );
      expect(rows.filter((row) => row.reason === 'forgotten').map((row) => row.person)).to.deep.equal([name]);
      expect(rows.every((row) => typeof row.person === 'string')).to.equal(true);
      const again = await processes.run(['forget', '--config', file, '--identity', `Email:${ANN}`]);
      expect(again.stdout).to.include('  flow nps: 0 dedupe marks, 0 delivery-log entries, 1 history row');
      expect(await redis.lrange(`${fixture.prefix}:nps:history`, 0, -1)).to.satisfy((left: string[]) =>
        left.every((row) => !row.includes(name)),
      );
      // Once more, with nothing left: said plainly, and not taken for a typo (exit 0, not 2).
      const third = await processes.run(['forget', '--config', file, '--identity', `Email:${ANN}`]);
      expect(third.code).to.equal(0);
      expect(third.stdout).to.include('already forgotten by an earlier run; nothing held about them since');
      // A new update is sent.
      await sendAndStop([profile(ANN, 'Ann')], 1);
      expect(accepting.requests).to.have.length(4);
    } finally {
      await close();
    }
  });

  it('without Redis, forget clears the flows’ state directories and dead-letter files (history rows name people by a keyed hash)', async () => {
    const { feed, accepting, refusing, dir, letters, file, close } = await setUp('qa-privacy-embedded-');
    const flow = (name: string, url: string, more = '') => `
  - name: ${name}
    destination: { url: "${url}", apiToken: t, auth: header, allowAnyHost: true, retry: { maxAttempts: 1 } }
    audiences: [{ id: a1 }]
    identities: [{ source: Email, target: email }]${more}`;
    writeFileSync(
      file,
      `
name: Private
source: { websocket: { url: "${feed.url}" } }
state: { dir: state }
flows:${flow('nps', accepting.url)}${flow('churn', refusing.url, `\n    deadLetters: { file: ${letters} }`)}
`,
    );
    try {
      const config = await loadConfig(file, {});
      const started = await startFromConfig(config, silentLogger());
      const socket = await feed.connection(1);
      for (const email of [ANN, BOB]) socket.send(JSON.stringify(profile(email, 'x')));
      await Promise.all(started.flows.map(({ pipeline }) => pipeline.ledger.whenSettled(2)));
      await started.stop();
      /** Every key and value of every database of a flow's state directory, as one text. */
      const stateText = async (name: string): Promise<string> => {
        const state = openStateStore(join(dir, 'state', 'private', name));
        try {
          const dbs = [state.dedupe, state.delivered, state.history] as const;
          return JSON.stringify(dbs.map((db) => [...db.getRange({})].map(({ key, value }) => [key, value])));
        } finally {
          await state.close();
        }
      };
      expect((await stateText('nps')).toLowerCase()).to.include('ann.private');
      const name = createHmac('sha256', readFileSync(join(dir, 'state', 'private', 'nps', 'identity-hash-key'), 'utf8'))
        .update(`email:${ANN.toLowerCase()}`)
        .digest('base64url');
      expect(await stateText('nps')).to.include(name);

      await new DeadLetterFile(letters).add(poison(ANN));
      // Another process compacting the file holds its lock: forget says the file is not rewritten yet.
      const release = await takeLock(`${letters}.lock`);
      const locked = await processes.run(['forget', '--config', file, '--identity', `Email:${ANN}`]);
      await release?.();
      expect(locked.stdout).to.equal(
        [
          'forgot Email:A***@Example.com:',
          '  flow nps: 1 dedupe mark, 0 delivery-log entries, 1 history row, 0 dead letters',
          '  flow churn: 0 dedupe marks, 0 delivery-log entries, 1 history row, 2 dead letters',
          `  flow churn: the dead-letter file still holds removed letters' lines (another compaction holds ${letters}.lock): run forget again once that process is done, to rewrite it`,
          '',
        ].join('\n'),
      );
      expect(locked.code).to.equal(1);
      // Run again: nothing left to find (said so, exit 2), and the file is rewritten.
      const result = await processes.run(['forget', '--config', file, '--identity', `Email:${ANN}`]);
      expect(result.code).to.equal(2);
      for (const flowName of ['nps', 'churn']) {
        const text = await stateText(flowName);
        expect(text.toLowerCase()).not.to.include('ann.private');
        expect(text).not.to.include(name);
        expect(text).to.include('b***@example.com');
      }
      expect(readFileSync(letters, 'utf8').toLowerCase()).not.to.include('ann.private');
      expect(readFileSync(letters, 'utf8')).to.include(BOB);
    } finally {
      await close();
    }
  });
});
