import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/ws-server.js';

const PEOPLE = 60;
const PROCESSES = 3;

const membership = (email: string, status: 'realized' | 'exited'): object => ({
  identityMap: { Email: [{ id: email }] },
  segmentMembership: { ups: { a1: { status, lastQualificationTime: '2026-11-29T09:00:00Z' } } },
});

/** Each person's statuses arrived once each, `realized` before `exited`: nothing twice, nothing dropped. */
const expectEachInOrder = (standIn: QualtricsStandIn): void => {
  const statuses = new Map<string, string[]>();
  for (const request of standIn.requests) {
    const body = JSON.parse(request.body.toString('utf8')) as {
      identityMap: { Email: Array<{ id: string }> };
      segmentMembership: { ups: { a1: { status: string } } };
    };
    const email = body.identityMap.Email[0]!.id;
    statuses.set(email, [...(statuses.get(email) ?? []), body.segmentMembership.ups.a1.status]);
  }
  expect(standIn.requests, 'nothing sent twice').to.have.length(PEOPLE * 2);
  for (let i = 0; i < PEOPLE; i += 1)
    expect(statuses.get(`p${i}@example.com`), `p${i}`).to.deep.equal(['realized', 'exited']);
};

/** A producer connection that waits for each message's acknowledgement (it is journaled then). */
class AckedProducer {
  #sent = 0;
  readonly #waiting = new Map<number, () => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const { ack } = JSON.parse(String(data)) as { ack?: number };
      if (ack !== undefined) this.#waiting.get(ack)?.();
    });
  }

  static async connect(port: number): Promise<AckedProducer> {
    let producer: AckedProducer | undefined;
    await eventually(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}/?ack=1`, {
            headers: { authorization: 'Bearer producer-secret' },
          });
          socket.once('open', () => ((producer = new AckedProducer(socket)), resolve(true)));
          socket.once('error', () => resolve(false));
        }),
      15_000,
      `the listener on ${port}`,
    );
    return producer!;
  }

  send(update: object): Promise<void> {
    this.#sent += 1;
    const n = this.#sent;
    const acked = new Promise<void>((resolve) => this.#waiting.set(n, resolve));
    this.socket.send(JSON.stringify(update));
    return acked;
  }

  close(): void {
    this.socket.close();
  }
}

describe('order per person across processes sharing a journal (real processes, Redis, endpoint)', function () {
  this.timeout(90_000);
  const processes = new CliProcesses();
  let fixture: RedisFixture;
  let standIn: QualtricsStandIn;
  afterEach(async () => {
    processes.killAll();
    await standIn?.close();
    await fixture?.cleanup();
  });

  it("sends each person's realized before their exited, though they reached different processes, and drops neither", async () => {
    fixture = new RedisFixture();
    // Random answer times, so a process that took a later update often gets to it first.
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: () => new Promise((resolve) => setTimeout(() => resolve(undefined), Math.random() * 40)),
    });
    const ports = await Promise.all(Array.from({ length: PROCESSES }, () => freePort()));
    const children = ports.map((port) => {
      const file = join(tempDir(), 'config.yaml');
      writeFileSync(
        file,
        `
name: Ordered
source: { websocket: { listen: { port: ${port}, token: producer-secret } } }
journal: { stream: "${fixture.prefix}:journal", claimIdleSeconds: 2 }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, concurrency: 8 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
observability: { port: 0 }
`,
      );
      return processes.start(['run', '--config', file]);
    });
    const exits = children.map((child) => finished(child));
    const producers = await Promise.all(ports.map((port) => AckedProducer.connect(port)));

    // Each person: realized through one process, then (once journaled) exited through the next one.
    await Promise.all(
      Array.from({ length: PEOPLE }, async (_, i) => {
        const email = `p${i}@example.com`;
        await producers[i % PROCESSES]!.send(membership(email, 'realized'));
        await producers[(i + 1) % PROCESSES]!.send(membership(email, 'exited'));
      }),
    );
    await eventually(() => standIn.requests.length >= PEOPLE * 2, 30_000, 'every update delivered');

    expectEachInOrder(standIn);

    for (const producer of producers) producer.close();
    for (const child of children) child.kill('SIGTERM');
    const results = await Promise.all(exits);
    for (const { code, stderr } of results) {
      expect(code).to.equal(0);
      expect(stderr, 'nothing excluded as stale').not.to.contain('"reason":"stale"');
    }
  });

  it('keeps that order for a stream it does not write too, relayed into the journal by one process at a time', async () => {
    fixture = new RedisFixture();
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: () => new Promise((resolve) => setTimeout(() => resolve(undefined), Math.random() * 40)),
    });
    const outside = `${fixture.prefix}:cdp-profiles`;
    const redis = fixture.connect();
    const files = Array.from({ length: PROCESSES }, () => {
      const file = join(tempDir(), 'config.yaml');
      writeFileSync(
        file,
        `
name: Relayed
source: { redisStream: { stream: "${outside}", group: cdp, startId: "0" } }
journal: { stream: "${fixture.prefix}:journal", claimIdleSeconds: 2 }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, concurrency: 8 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
observability: { port: 0 }
`,
      );
      return file;
    });
    const children = files.map((file) => processes.start(['run', '--config', file]));
    const exits = children.map((child) => finished(child));
    for (let i = 0; i < PEOPLE; i += 1) {
      await redis.xadd(outside, '*', 'profile', JSON.stringify(membership(`p${i}@example.com`, 'realized')));
    }
    for (let i = 0; i < PEOPLE; i += 1) {
      await redis.xadd(outside, '*', 'profile', JSON.stringify(membership(`p${i}@example.com`, 'exited')));
    }
    await eventually(() => standIn.requests.length >= PEOPLE * 2, 30_000, 'every update delivered');
    expectEachInOrder(standIn);
    await eventually(async () => ((await redis.xpending(outside, 'cdp')) as [number])[0] === 0, 10_000, 'relayed all');
    for (const child of children) child.kill('SIGTERM');
    for (const { code } of await Promise.all(exits)) expect(code).to.equal(0);
  });
});
