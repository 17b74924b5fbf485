import { expect } from 'chai';
import { WebSocket } from 'ws';
import { parseConfig } from '../../pipeline/config/load.js';
import { dlqRedrive } from '../../pipeline/commands/dlq.js';
import { flowWarnings } from '../../pipeline/commands/validate.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig, type Started } from '../../pipeline/run.js';
import { problemsOf } from '../helpers/config-problems.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { busiestWindow } from '../helpers/windows.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const TOKEN = 'flows-api-token';

/** A flow's YAML (in a `flows:` list), sending to `url`. */
const flowYaml = (name: string, url: string, lines: readonly string[]): string =>
  [
    `  - name: ${name}`,
    `    destination: { url: "${url}", apiToken: ${TOKEN}, auth: header, allowAnyHost: true, retry: { baseMs: 20, maxMs: 200 } }`,
    ...lines.map((line) => `    ${line}`),
  ].join('\n');

/** A profile update: its email, its ECID, the audiences it is realized in, a tier and a name. */
const profile = (n: number, audiences: readonly string[]): object => ({
  person: { name: { firstName: `first${n}`, lastName: `last${n}` } },
  loyalty: { tier: `t${n}` },
  identityMap: { Email: [{ id: `p${n}@example.com` }], ECID: [{ id: `ecid-${n}` }] },
  segmentMembership: {
    ups: Object.fromEntries(
      audiences.map((id) => [id, { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' }]),
    ),
  },
});

const bodies = (standIn: QualtricsStandIn): Array<Record<string, unknown>> =>
  standIn.requests.map((request) => JSON.parse(request.body.toString('utf8')) as Record<string, unknown>);

describe('flows: one intake, several Qualtrics workflows', function () {
  this.timeout(60_000);

  describe('config', () => {
    const base = (flows: string): string => `
name: Brand
source: { websocket: { url: "ws://127.0.0.1:1" } }
flows:
${flows}
`;
    const ok = (name: string, url = 'https://a.qualtrics.com/e/1', more: string[] = []) =>
      flowYaml(name, url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]', ...more]);

    it('decodes flows, each with its own mapping, and the one-flow form as one flow named after the config', () => {
      const config = parseConfig(
        base([ok('nps'), ok('churn', 'https://a.qualtrics.com/e/2', ['enabled: false'])].join('\n')),
        {},
      );
      expect(config.singleFlowForm).to.equal(false);
      expect(config.flows.map((flow) => [flow.name, flow.enabled])).to.deep.equal([
        ['nps', true],
        ['churn', false],
      ]);
      const single = parseConfig(
        `
name: Post-purchase survey
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://a.qualtrics.com/e/1", apiToken: t, auth: header }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`,
        {},
      );
      expect(single.singleFlowForm).to.equal(true);
      expect(single.flows.map((flow) => flow.name)).to.deep.equal(['post-purchase-survey']);
      expect(single.flows[0]!.audiences).to.deep.equal([{ id: 'a1' }]);
    });

    it('reports problems at their full path, and refuses repeated names, every flow off, and disagreeing limits', () => {
      expect(
        problemsOf(base([ok('nps'), flowYaml('NPS 2', 'htp://x', ['audiences: []', 'identities: []'])].join('\n'))),
      ).to.deep.equal([
        'flows[1].name: expected a slug of lower-case letters, digits and dashes (like nps-survey), got "NPS 2"',
        'flows[1].destination.url: expected an http(s) URL, got "htp://x"',
        'flows[1].audiences: expected at least one entry, got an empty list',
        'flows[1].identities: expected at least one entry, got an empty list',
      ]);
      expect(problemsOf(base([ok('nps'), ok('nps', 'https://a.qualtrics.com/e/2')].join('\n')))).to.deep.equal([
        'flows[1].name: flow "nps" is listed twice',
      ]);
      expect(problemsOf(base(ok('nps', undefined, ['enabled: false'])))).to.deep.equal([
        'flows: every flow is disabled (enabled: false): nothing would run',
      ]);
      const faster = ok('b', 'https://a.qualtrics.com/e/2').replace(
        'allowAnyHost: true,',
        'allowAnyHost: true, rateLimit: { requests: 100 },',
      );
      expect(problemsOf(base([ok('a'), faster].join('\n')))).to.deep.equal([
        'flows[1].destination.rateLimit: shares the limit of group "a.qualtrics.com" with flows[0], so it must be ' +
          'the same (3000 per 60 s), or name another rateLimit.group',
      ]);
    });

    it('warns about an audience only a disabled flow maps, and two flows sending one audience to one URL', () => {
      const config = parseConfig(
        base(
          [
            ok('a'),
            // The same URL written differently (host case, default port) is still the same workflow.
            ok('b', 'https://A.Qualtrics.com:443/e/1'),
            flowYaml('c', 'https://a.qualtrics.com/e/3', [
              'enabled: false',
              'audiences: [{ id: a9 }]',
              'identities: [{ source: Email, target: email }]',
            ]),
          ].join('\n'),
        ),
        {},
      );
      expect(flowWarnings(config)).to.deep.equal([
        'flows a and b both send audience "a1" to https://a.qualtrics.com/e/1',
        'audience "a9" is mapped only in disabled flow c: no flow sends it',
      ]);
    });
  });

  describe('running (real Redis, real local endpoints)', () => {
    let fixture: RedisFixture;
    let feed: TestWebSocketServer | undefined;
    const standIns: QualtricsStandIn[] = [];
    const running: Started[] = [];
    beforeEach(() => {
      fixture = new RedisFixture();
    });
    afterEach(async () => {
      await Promise.all(running.splice(0).map((started) => started.stop()));
      await Promise.all(standIns.splice(0).map((standIn) => standIn.close()));
      await feed?.close();
      feed = undefined;
      await fixture.cleanup();
    });
    const standIn = async (options: Partial<Parameters<typeof QualtricsStandIn.start>[0]> = {}) => {
      const started = await QualtricsStandIn.start({ apiToken: TOKEN, ...options });
      standIns.push(started);
      return started;
    };
    const start = async (text: string): Promise<Started> => {
      const started = await startFromConfig(parseConfig(text, {}), silentLogger());
      running.push(started);
      return started;
    };
    const redis = () => `redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }`;

    it('activates one feed to three flows: each endpoint gets exactly its flow’s payloads, counted per flow', async () => {
      feed = await TestWebSocketServer.start();
      const [nps, churn, post] = [await standIn(), await standIn(), await standIn()];
      const started = await start(`
name: Brand
source: { websocket: { url: "${feed.url}" } }
${redis()}
flows:
${flowYaml('nps', nps.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]', 'attributes: [{ source: person.name.firstName, target: firstName }]'])}
${flowYaml('churn', churn.url, ['audiences: [{ id: a2 }]', 'identities: [{ source: ECID, target: external_id }]', 'attributes: [{ source: loyalty.tier, target: tier }]'])}
${flowYaml('post', post.url, ['audiences: [{ id: a1 }, { id: a3 }]', 'identities: [{ source: Email, target: email }]', 'attributes: [{ source: person.name.lastName, target: lastName }]'])}
`);
      const socket = await feed.connection(1);
      const memberships = [['a1'], ['a2'], ['a3'], ['a1', 'a2'], [], ['a2', 'a3']];
      for (const [n, audiences] of memberships.entries()) socket.send(JSON.stringify(profile(n, audiences)));
      socket.send('not json');
      await Promise.all(started.flows.map(({ pipeline }) => pipeline.ledger.whenSettled(memberships.length + 1)));

      const ids = (standIn: QualtricsStandIn, namespace: string) =>
        bodies(standIn)
          .map((body) => (body.identityMap as Record<string, Array<{ id: string }>>)[namespace]![0]!.id)
          .sort();
      expect(ids(nps, 'Email')).to.deep.equal(['p0@example.com', 'p3@example.com']);
      expect(ids(churn, 'ECID')).to.deep.equal(['ecid-1', 'ecid-3', 'ecid-5']);
      expect(ids(post, 'Email')).to.deep.equal([
        'p0@example.com',
        'p2@example.com',
        'p3@example.com',
        'p5@example.com',
      ]);
      // Each flow maps its own attributes, and only its own audiences.
      expect(bodies(nps)[0]).to.include.keys('firstName');
      expect(bodies(nps)[0]).not.to.include.keys('tier', 'lastName');
      expect(
        bodies(churn)
          .map((body) => body.tier)
          .sort(),
      ).to.deep.equal(['t1', 't3', 't5']);
      expect(
        Object.keys((bodies(post).find((b) => b.lastName === 'last5')!.segmentMembership as { ups: object }).ups),
      ).to.deep.equal(['a3']);
      // Every flow saw every update: received = delivered + excluded + duplicate + failed + in flight.
      for (const { flow, pipeline } of started.flows) {
        const counts = pipeline.ledger.counts();
        const excluded = Object.values(counts.excluded).reduce((a, b) => a + b, 0);
        const failed = Object.values(counts.failed).reduce((a, b) => a + b, 0);
        expect(counts.received, flow.name).to.equal(7);
        expect(counts.delivered + excluded + counts.duplicate + failed + counts.inFlight, flow.name).to.equal(7);
        expect(counts.excluded['invalid-json'], flow.name).to.equal(1);
      }
    });

    it('holds two flows of one rate-limit group, in two processes, to one shared limit, taking turns fairly', async () => {
      // Two workflows of one brand (here two local servers, so the group is named: one host would share by default).
      const [big, small] = [await standIn(), await standIn()];
      const limited = (name: string, url: string, audience: string) =>
        flowYaml(name, url, [
          `audiences: [{ id: ${audience} }]`,
          'identities: [{ source: Email, target: email }]',
        ]).replace(
          'retry: { baseMs: 20, maxMs: 200 } }',
          'retry: { baseMs: 20, maxMs: 200 }, rateLimit: { requests: 10, perSeconds: 1, group: brand } }',
        );
      const config = (port: number) => `
name: Brand
source: { websocket: { listen: { port: ${port}, token: feed-token } } }
${redis()}
flows:
${limited('big', big.url, 'a1')}
${limited('small', small.url, 'a2')}
`;
      const ports = [await freePort(), await freePort()];
      const processes = [await start(config(ports[0]!)), await start(config(ports[1]!))];
      const send = async (port: number, updates: readonly object[]) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { authorization: 'Bearer feed-token' } });
        await new Promise((resolve) => socket.once('open', resolve));
        for (const update of updates) socket.send(JSON.stringify(update));
        return socket;
      };
      // One flow has a backlog, the other a few.
      const backlog = (from: number) => Array.from({ length: 20 }, (_, i) => profile(from + i, ['a1']));
      const few = (from: number) => Array.from({ length: 3 }, (_, i) => profile(from + i, ['a2']));
      const sockets = [
        await send(ports[0]!, [...backlog(0), ...few(100)]),
        await send(ports[1]!, [...backlog(200), ...few(300)]),
      ];
      await Promise.all(
        processes.flatMap((started) => started.flows.map(({ pipeline }) => pipeline.ledger.whenSettled(23))),
      );
      for (const socket of sockets) socket.close();
      const requests = [...big.requests, ...small.requests].sort((a, b) => a.at - b.at);
      expect(requests).to.have.length(46);
      // The sum of both flows of both processes, measured at the receivers: never over the limit.
      expect(
        busiestWindow(
          requests.map((request) => request.at),
          1000,
        ),
      ).to.be.at.most(10);
      // Turns: the small flows' 6 requests are not left behind the big flows' 40. (Loose here, where two
      // processes' timings mix: the exact order of turns is tested in spec/adapters/rate-limit-group.spec.ts.)
      const lastSmall = requests.findLastIndex((request) => small.requests.includes(request));
      expect(lastSmall).to.be.below(30);
    });

    it('shares one brand’s limit between a process in the one-flow form and one in the flows form', async () => {
      // A brand moving to flows one process at a time: old and new processes must still share the limit.
      const [old, renewed] = [await standIn(), await standIn()];
      const limit = 'rateLimit: { requests: 5, perSeconds: 1, group: brand }';
      const destination = (url: string) =>
        `{ url: "${url}", apiToken: ${TOKEN}, auth: header, allowAnyHost: true, ${limit} }`;
      const [onePort, flowsPort] = [await freePort(), await freePort()];
      const listen = (port: number) => `source: { websocket: { listen: { port: ${port}, token: feed-token } } }`;
      const processes = [
        await start(`
name: Brand
${listen(onePort)}
${redis()}
destination: ${destination(old.url)}
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`),
        await start(`
name: Brand
${listen(flowsPort)}
${redis()}
flows:
  - name: nps
    destination: ${destination(renewed.url)}
    audiences: [{ id: a1 }]
    identities: [{ source: Email, target: email }]
`),
      ];
      const sockets = await Promise.all(
        [onePort, flowsPort].map(async (port, at) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { authorization: 'Bearer feed-token' } });
          await new Promise((resolve) => socket.once('open', resolve));
          for (let i = 0; i < 10; i++) socket.send(JSON.stringify(profile(at * 100 + i, ['a1'])));
          return socket;
        }),
      );
      await Promise.all(processes.map((started) => started.flows[0]!.pipeline.ledger.whenSettled(10)));
      for (const socket of sockets) socket.close();
      const times = [...old.requests, ...renewed.requests].map((request) => request.at);
      expect(times).to.have.length(20);
      expect(busiestWindow(times, 1000)).to.be.at.most(5);
    });

    it('keeps flows independent over a journal: one answered 401 for a while, the other gets everything, then it catches up', async () => {
      feed = await TestWebSocketServer.start();
      let rejecting = true;
      const rejected = await standIn({
        respond: () => (rejecting ? { status: 401, body: { meta: { error: 'no' } } } : undefined),
      });
      const fine = await standIn();
      const started = await start(`
name: Brand
source: { websocket: { url: "${feed.url}" } }
${redis()}
journal: { stream: "${fixture.prefix}:journal" }
flows:
${flowYaml('stuck', rejected.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
${flowYaml('fine', fine.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
`);
      const socket = await feed.connection(1);
      for (let n = 0; n < 30; n += 1) socket.send(JSON.stringify(profile(n, ['a1'])));
      const [stuck, ok] = started.flows;
      await ok!.pipeline.ledger.whenSettled(30);
      expect(fine.requests).to.have.length(30);
      expect(stuck!.pipeline.ledger.counts().delivered).to.equal(0);
      expect(stuck!.wiring.core.valve.isClosed).to.equal(true);
      // /readyz says which flow waits, and why; the other takes input.
      const ready = started.readiness();
      expect(ready['stuck.intake']?.ok).to.equal(false);
      expect(ready['stuck.intake']?.detail).to.match(/^paused \(destination-rejected: /);
      expect(ready['fine.intake']).to.deep.equal({ ok: true, detail: 'taking input' });
      expect(Object.keys(ready)).to.have.members([
        'intake',
        'redis',
        'feed',
        'stuck.source',
        'stuck.intake',
        'fine.source',
        'fine.intake',
      ]);
      rejecting = false;
      await eventually(() => stuck!.pipeline.ledger.counts().delivered === 30, 20_000, 'the stuck flow catching up');
      const sent = new Set(bodies(rejected).map((body) => JSON.stringify(body.identityMap)));
      expect(sent.size).to.equal(30);
      expect(stuck!.pipeline.ledger.counts().failed).to.deep.equal({});
    });

    it('over a plain WebSocket, lets a stuck flow take only its share and dead-letter the rest, and the others go on', async () => {
      feed = await TestWebSocketServer.start();
      let rejecting = true;
      const rejected = await standIn({
        respond: () => (rejecting ? { status: 401, body: { meta: { error: 'no' } } } : undefined),
      });
      const fine = await standIn();
      const text = `
name: Brand
source: { websocket: { url: "${feed.url}" } }
${redis()}
pipeline: { maxInFlight: 10 }
flows:
${flowYaml('stuck', rejected.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
${flowYaml('fine', fine.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
`;
      const started = await start(text);
      const socket = await feed.connection(1);
      const [stuck, ok] = started.flows;
      // The stuck flow's destination has said no (its intake paused) before most updates come.
      socket.send(JSON.stringify(profile(0, ['a1'])));
      await eventually(() => stuck!.wiring.core.valve.isClosed, 10_000, 'the stuck flow pausing');
      // One message of 12 profiles (more than the stuck flow's share), then single ones.
      socket.send(JSON.stringify(Array.from({ length: 12 }, (_, i) => profile(1 + i, ['a1']))));
      for (let n = 13; n < 30; n += 1) socket.send(JSON.stringify(profile(n, ['a1'])));
      // The other flow is not held back: every update reaches it while the stuck one cannot send.
      await ok!.pipeline.ledger.whenSettled(30);
      expect(fine.requests).to.have.length(30);
      // The stuck flow holds about its share (10 / 2 flows; a message is taken whole, so one message's
      // profiles past it) and dead-letters the rest, counted.
      await eventually(() => stuck!.pipeline.ledger.counts().received === 30, 10_000, 'all offered to the stuck flow');
      const held = stuck!.pipeline.ledger.inFlight;
      const shed = stuck!.pipeline.ledger.counts().failed['flow-paused'] ?? 0;
      expect(held).to.be.at.most(5 + 11);
      expect(held + shed).to.equal(30);
      rejecting = false;
      await eventually(() => stuck!.pipeline.ledger.inFlight === 0, 20_000, 'the held ones delivered');
      expect(stuck!.pipeline.ledger.counts()).to.deep.include({ delivered: held, failed: { 'flow-paused': shed } });
      // What was shed is in the flow's dead letters, exactly as it would have been sent: a redrive sends it.
      await started.stop();
      running.splice(running.indexOf(started), 1);
      const config = parseConfig(text, {});
      const { counts } = await dlqRedrive(config, config.flows[0]!, silentLogger());
      expect(counts).to.deep.include({ received: shed, delivered: shed });
      expect(new Set(bodies(rejected).map((body) => JSON.stringify(body.identityMap))).size).to.equal(30);
    });

    it('leaves an entry pending for the flow that has not settled it when the process stops, and only for that flow', async () => {
      feed = await TestWebSocketServer.start();
      let rejecting = true;
      const later = await standIn({
        respond: () => (rejecting ? { status: 503, body: { meta: { error: 'down' } } } : undefined),
      });
      const now = await standIn();
      const journal = `${fixture.prefix}:journal`;
      const text = `
name: Brand
source: { websocket: { url: "${feed.url}" } }
${redis()}
journal: { stream: "${journal}", group: g }
flows:
${flowYaml('now', now.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
${flowYaml('later', later.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]'])}
`;
      const first = await start(text);
      const socket = await feed.connection(1);
      for (let n = 0; n < 5; n += 1) socket.send(JSON.stringify(profile(n, ['a1'])));
      await first.flows[0]!.pipeline.ledger.whenSettled(5);
      await eventually(() => later.requests.length > 0, 10_000, 'the later flow trying');
      await first.stop();
      running.splice(running.indexOf(first), 1);
      const client = fixture.connect();
      const pending = async (group: string) => ((await client.xpending(journal, group)) as [number])[0];
      // Delivered by one flow, acknowledged in its group only; still to do in the other's.
      expect(await pending('g:now')).to.equal(0);
      expect(await pending('g:later')).to.equal(5);
      expect(await client.xlen(journal)).to.equal(5);

      rejecting = false;
      const second = await start(text);
      await eventually(
        () => new Set(bodies(later).map((b) => JSON.stringify(b.identityMap))).size === 5,
        20_000,
        'caught up',
      );
      await second.flows[1]!.pipeline.ledger.whenSettled(5);
      expect(now.requests).to.have.length(5);
      expect(await pending('g:later')).to.equal(0);
    });

    it('lets a flow added later send for people the journal already numbered (after the lost-turn check)', async () => {
      const server = await TestWebSocketServer.start();
      feed = server;
      const endpoints: Record<string, QualtricsStandIn> = {
        old: await standIn(),
        other: await standIn(),
        added: await standIn(),
      };
      const journal = `${fixture.prefix}:journal`;
      const flows = (names: string[]) => `
name: Brand
source: { websocket: { url: "${server.url}" } }
${redis()}
journal: { stream: "${journal}", group: g }
flows:
${names.map((name) => flowYaml(name, endpoints[name]!.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]', 'attributes: [{ source: person.name.firstName, target: firstName }]'])).join('\n')}
`;
      const person = (version: number) => ({ ...profile(1, ['a1']), person: { name: { firstName: `v${version}` } } });
      const first = await start(flows(['old', 'other']));
      let socket = await server.connection(1);
      socket.send(JSON.stringify(person(1)));
      socket.send(JSON.stringify(person(2)));
      await eventually(
        () => first.flows.every(({ pipeline }) => pipeline.ledger.counts().settled === 2),
        10_000,
        'both flows done',
      );
      await first.stop();
      running.splice(running.indexOf(first), 1);
      // A flow added since: its group starts now, and the person's line is already at 2.
      const second = await start(flows(['old', 'other', 'added']));
      socket = await server.connection(2);
      // Its group is made when its source starts: what came before that is not its to send.
      await eventually(() => second.flows[2]!.wiring.sourceHealth.connected, 10_000, 'the added flow reading');
      socket.send(JSON.stringify(person(3)));
      await eventually(() => endpoints.added!.runs.length === 1, 45_000, 'the added flow sending').catch((error) => {
        throw new Error(
          `${(error as Error).message}: ${JSON.stringify(second.flows.map(({ flow, pipeline }) => [flow.name, pipeline.ledger.counts()]))}`,
        );
      });
      expect((endpoints.added!.runs[0]!.payload as { firstName: string }).firstName).to.equal('v3');
      expect(endpoints.old!.runs).to.have.length(3);
    });

    it('acknowledges a message to its producer only once every flow settled it', async () => {
      let slowUntil = 0;
      const slow = await standIn({
        respond: async () => {
          slowUntil = Date.now() + 600;
          await new Promise((resolve) => setTimeout(resolve, 600));
          return undefined;
        },
      });
      const quick = await standIn();
      const port = await freePort();
      await start(`
name: Brand
source: { websocket: { listen: { port: ${port}, token: feed-token } } }
state: { dir: ${tempDir()} }
flows:
${flowYaml('quick', quick.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]', `deadLetters: { file: ${deadLetterFile()} }`])}
${flowYaml('slow', slow.url, ['audiences: [{ id: a1 }]', 'identities: [{ source: Email, target: email }]', `deadLetters: { file: ${deadLetterFile()} }`])}
`);
      const socket = new WebSocket(`ws://127.0.0.1:${port}/?ack=1`, {
        headers: { authorization: 'Bearer feed-token' },
      });
      await new Promise((resolve) => socket.once('open', resolve));
      const acked = new Promise<number>((resolve) => socket.once('message', () => resolve(Date.now())));
      socket.send(JSON.stringify(profile(1, ['a1'])));
      const at = await acked;
      socket.close();
      expect(quick.requests).to.have.length(1);
      expect(slow.requests).to.have.length(1);
      // Not when the quick flow delivered: only after the slow one's answer came.
      expect(at).to.be.at.least(slowUntil);
    });
  });
});
