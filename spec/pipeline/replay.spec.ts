import { chainOf } from '../../pipeline/chain.js';
import { expect } from 'chai';
import type { Redis } from '../../adapters/redis/connection.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { parseBound, startReplay } from '../../pipeline/replay.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../helpers/ws-server.js';

/** Appends updates to a stream in batches (one round trip per batch); answers their ids in order. */
const fill = async (redis: Redis, stream: string, updates: readonly object[]): Promise<string[]> => {
  const ids: string[] = [];
  for (let i = 0; i < updates.length; i += 5000) {
    const batch = redis.pipeline();
    for (const update of updates.slice(i, i + 5000)) batch.xadd(stream, '*', 'profile', JSON.stringify(update));
    for (const [error, id] of (await batch.exec())!) {
      if (error) throw error;
      ids.push(id as string);
    }
  }
  return ids;
};

const configText = (eventUrl: string, prefix: string, extra = '') => `
name: Replay
source: { redisStream: { stream: unused, group: unused } }
destination:
  url: ${eventUrl}
  apiToken: ${API_TOKEN}
  auth: header
  allowAnyHost: true
  rateLimit: { requests: 1000000, perSeconds: 1 }
  concurrency: 64
  retry: { baseMs: 10, maxMs: 50 }
pipeline: { maxInFlight: 2000 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
redis: { url: "${REDIS_URL}", prefix: "${prefix}" }
${extra}`;

describe('replay (real Redis, real local endpoint)', function () {
  this.timeout(180_000);
  let fixture: RedisFixture;
  let standIn: QualtricsStandIn;
  beforeEach(async () => {
    fixture = new RedisFixture();
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
  });
  const processes = new CliProcesses();
  const startCli = (args: readonly string[]) => processes.start(args);
  afterEach(async () => {
    processes.killAll();
    await standIn.close();
    await fixture.cleanup();
  });

  it('parses bounds: stream ids, ISO times, and the open ends', () => {
    expect(parseBound(undefined, 'from')).to.equal('-');
    expect(parseBound(undefined, 'to')).to.equal('+');
    expect(parseBound('1732860000000-7', 'from')).to.equal('1732860000000-7');
    expect(parseBound('2024-11-29T06:00:00Z', 'to')).to.equal('1732860000000');
    expect(() => parseBound('yesterday', 'from')).to.throw(
      '--from: expected a stream id (like 1732860000000-0) or an ISO time, got "yesterday"',
    );
  });

  it('replays 50,000 entries of which 45,000 were already delivered, sending only the other 5,000', async () => {
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:updates`;
    const ids = await fill(
      redis,
      stream,
      Array.from({ length: 50_000 }, (_, i) => updateFor(`p${i}@example.com`)),
    );
    const config = parseConfig(configText(standIn.url, fixture.prefix), {});

    const first = await startReplay(
      config,
      [{ flow: config.flows[0]!, chain: chainOf(config.flows[0]!) }],
      { stream, from: '-', to: ids[44_999]!, field: 'profile' },
      silentLogger(),
    );
    const earlier = await first.done;
    expect(earlier.counts).to.deep.include({ received: 45_000, delivered: 45_000, inFlight: 0 });
    expect(standIn.requests).to.have.length(45_000);

    const again = await startReplay(
      config,
      [{ flow: config.flows[0]!, chain: chainOf(config.flows[0]!) }],
      { stream, from: '-', to: '+', field: 'profile' },
      silentLogger(),
    );
    const final = await again.done;
    expect(final.counts).to.deep.include({ received: 50_000, delivered: 5_000, duplicate: 45_000, inFlight: 0 });
    expect(standIn.requests).to.have.length(50_000);
    const sent = new Set(
      standIn.runs.map(
        (run) => (run.payload as { identityMap: { Email: Array<{ id: string }> } }).identityMap.Email[0]!.id,
      ),
    );
    expect(sent.size).to.equal(50_000);
  });

  it('does not send an old state over a newer one delivered since', async () => {
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:updates`;
    // Ann's v1, then v2; v2 was delivered (say, live). Replaying both sends neither.
    const [, v2] = await fill(redis, stream, [
      updateFor('ann@example.com', 1),
      updateFor('ann@example.com', 2),
      updateFor('ben@example.com', 1),
    ]);
    const config = parseConfig(configText(standIn.url, fixture.prefix), {});
    await (
      await startReplay(
        config,
        [{ flow: config.flows[0]!, chain: chainOf(config.flows[0]!) }],
        { stream, from: v2!, to: v2!, field: 'profile' },
        silentLogger(),
      )
    ).done;
    const final = await (
      await startReplay(
        config,
        [{ flow: config.flows[0]!, chain: chainOf(config.flows[0]!) }],
        { stream, from: '-', to: '+', field: 'profile' },
        silentLogger(),
      )
    ).done;
    expect(final.counts).to.deep.include({ delivered: 1, duplicate: 1, excluded: { stale: 1 } });
    expect(standIn.runs.map((run) => (run.payload as { firstName: string }).firstName)).to.deep.equal(['v2', 'v1']);
  });

  it('stops cleanly on Ctrl-C, prints where to resume, and resuming sends the rest exactly once', async () => {
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:updates`;
    await fill(
      redis,
      stream,
      Array.from({ length: 300 }, (_, i) => updateFor(`p${i}@example.com`)),
    );
    const file = join(tempDir(), 'replay.yaml');
    // A slow destination (50 a second) and a small credit, so Ctrl-C lands mid-way with little in flight.
    const slow = configText(standIn.url, fixture.prefix)
      .replace('rateLimit: { requests: 1000000, perSeconds: 1 }', 'rateLimit: { requests: 50, perSeconds: 1 }')
      .replace('maxInFlight: 2000', 'maxInFlight: 20');
    writeFileSync(file, slow);
    const child = startCli(['replay', '--config', file, '--stream', stream]);
    const result = finished(child);
    await eventually(() => standIn.requests.length >= 40, 20_000, 'some deliveries');
    child.kill('SIGINT');
    const { code, stdout, stderr } = await result;
    expect(code).to.equal(0);
    expect(stderr).to.contain('stopping: letting what was read settle');
    expect(stderr).to.match(/replay [\d.]+%: read \d+, delivered \d+/);
    const resume = /stopped early; resume with: --from (\d+-\d+)/.exec(stdout)?.[1];
    expect(resume, stdout).to.be.a('string');
    const before = standIn.requests.length;
    expect(before).to.be.below(300);

    const rest = await finished(startCli(['replay', '--config', file, '--stream', stream, '--from', resume!]));
    expect(rest.code).to.equal(0);
    expect(rest.stdout).to.match(/delivered \d+, duplicates 0/);
    expect(standIn.requests).to.have.length(300);
  });
});
