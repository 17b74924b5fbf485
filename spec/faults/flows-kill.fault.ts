import { expect } from 'chai';
import type { CountingEndpoint } from './helpers/counting-endpoint.js';
import { API_TOKEN, FaultRun } from './helpers/fault-run.js';
import { drained, infoOf } from './helpers/private-redis.js';
import { distinctUpdates, xaddUpdates } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { until } from './helpers/waits.js';

/*
 * Issue #10, point 2: a message is acknowledged to its source only when every flow has settled it. A
 * SIGKILL after one flow's outcome and before the other's leaves the entry pending for the second flow
 * (and only for it), so the next start sends it there and nowhere else a second time.
 */
describe('fault: SIGKILL between two flows’ outcomes (issue #10 point 2)', () => {
  const s = scenario();

  const flow = (name: string, endpoint: CountingEndpoint): string =>
    [
      `  - name: ${name}`,
      `    destination: { url: "${endpoint.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }`,
      '    audiences: [{ id: a1 }]',
      '    identities: [{ source: Email, target: email }]',
      // The killed process's dedupe leases end soon, so the restart need not wait the default lease out.
      '    dedupe: { leaseSeconds: 2 }',
    ].join('\n');

  it('leaves every entry pending for the flow that had not settled it, and the restart sends only those', async () => {
    // `later` holds every request unanswered: its outcomes never come before the kill.
    let holding = true;
    const now = await s.endpoint();
    const later = await s.endpoint(() => (holding ? { status: 202, delayMs: 600_000 } : { status: 202 }));
    const redis = await s.redis();
    const client = redis.client();
    await redis.ready(client);
    const stream = `${s.prefix}:updates`;
    const updates = distinctUpdates(5, 'kill-');
    await xaddUpdates(client, stream, updates);
    const config = (port: number): string =>
      [
        'name: Brand',
        `source: { redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 1 } }`,
        `redis: { url: "${redis.url}", prefix: "${s.prefix}" }`,
        `observability: { port: ${port} }`,
        'flows:',
        flow('now', now),
        flow('later', later),
        '',
      ].join('\n');
    const pending = async (group: string): Promise<number> => ((await client.xpending(stream, group)) as [number])[0];

    const first = await FaultRun.start(config);
    await until(
      async () => now.accepted().length === 5 && (await pending('workers:now')) === 0 && later.arrivals.length > 0,
      20_000,
      'flow now delivered and acknowledged every entry, flow later sending',
    );
    first.signal('SIGKILL');
    await first.exited();

    // Acknowledged in `now`'s group only; in `later`'s, what it read is pending and the rest unread.
    expect(await pending('workers:now')).to.equal(0);
    const groups = ((await client.xinfo('GROUPS', stream)) as unknown[]).map(infoOf);
    const lag = Number(groups.find((group) => group.name === 'workers:later')!.lag);
    expect((await pending('workers:later')) + lag).to.equal(5);
    expect(await client.xlen(stream)).to.equal(5);

    holding = false;
    const second = await FaultRun.start(config);
    await until(() => drained(client, stream, 'workers:later'), 30_000, 'flow later caught up');
    const people = (endpoint: CountingEndpoint) => new Set(endpoint.accepted().map((arrival) => arrival.identity));
    expect([...people(later)].sort()).to.deep.equal(updates.map((update) => update.email).sort());
    // Nothing sent twice to the flow that had settled before the kill.
    expect(now.arrivals).to.have.length(5);
    await second.stopWith('SIGTERM');
  });
});
