import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QualtricsHttpSender } from '../../../adapters/qualtrics/http-sender.js';
import { isPublicAddress, PrivateAddressError } from '../../../adapters/qualtrics/public-address.js';
import { judge } from '../../../operators/model/retry-policy.js';
import { decodeOrThrow } from '../../../operators/model/codecs.js';
import { RetryOptions } from '../../../operators/model/retry-policy.js';
import { from, mergeWith, NEVER } from 'rxjs';
import { DESTINATION_REJECTED, emit, EmitOptions } from '../../../operators/emit.js';
import { DESTINATION_DOWN } from '../../../operators/model/circuit-breaker.js';
import { testContext } from '../../helpers/contexts.js';
import { Books, profileEnvelope, profileOf } from '../../helpers/marbles.js';

/** A local HTTP server that answers every request with `status` (and `location`), counting what it got. */
const server = async (
  status: number,
  location?: string,
): Promise<{ server: Server; url: string; hits: () => number }> => {
  let hits = 0;
  const http = createServer((request, response) => {
    hits += 1;
    request.resume();
    response.writeHead(status, location ? { location } : {}).end('{}');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return { server: http, url: `http://127.0.0.1:${port}/event`, hits: () => hits };
};

describe('destination safety: where profiles may go', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('never follows a redirect: a 302 is the answer, with its status, and the target gets nothing', async () => {
    const elsewhere = await server(202);
    const redirecting = await server(302, elsewhere.url);
    servers.push(elsewhere.server, redirecting.server);
    const sender = new QualtricsHttpSender({ url: redirecting.url, auth: { kind: 'header', apiToken: 't' } });
    expect((await sender.send('{"a":1}')).status).to.equal(302);
    expect(redirecting.hits()).to.equal(1);
    expect(elsewhere.hits()).to.equal(0);
    // The pipeline fails it with its status (dead-lettered as http-302), not retried, not sent elsewhere.
    const verdict = judge(
      { kind: 'answer', answer: { status: 302, body: '' } },
      1,
      decodeOrThrow(RetryOptions, {}),
      0,
      () => 0.5,
    );
    expect(verdict).to.deep.include({ kind: 'give-up', reason: 'http-302', status: 302 });
  });

  it('refuses a host that resolves to a loopback address when only public addresses are allowed', async () => {
    const target = await server(202);
    servers.push(target.server);
    const port = new URL(target.url).port;
    const sender = new QualtricsHttpSender({
      url: `http://localhost:${port}/event`,
      auth: { kind: 'header', apiToken: 't' },
      publicAddressesOnly: true,
    });
    let error: unknown;
    await Promise.resolve(sender.send('{}')).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(
      /refused: localhost resolves to (127\.0\.0\.1|::1), a private, loopback, link-local or reserved address/,
    );
    expect(target.hits()).to.equal(0);
    // allowAnyHost (the default of the sender) keeps local test endpoints working.
    const allowed = new QualtricsHttpSender({
      url: `http://localhost:${port}/event`,
      auth: { kind: 'header', apiToken: 't' },
    });
    expect((await allowed.send('{}')).status).to.equal(202);
  });

  it('refuses a private IP literal at once (no lookup happens for one)', () => {
    expect(
      () =>
        new QualtricsHttpSender({
          url: 'https://10.1.2.3/event',
          auth: { kind: 'header', apiToken: 't' },
          publicAddressesOnly: true,
        }),
    ).to.throw(PrivateAddressError, 'refused: 10.1.2.3 resolves to 10.1.2.3');
  });

  it('tells public addresses from private, loopback, link-local and unique-local ones', () => {
    for (const address of [
      '127.0.0.1',
      '10.0.0.5',
      '172.20.1.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '100.64.0.1',
      '0.0.0.0',
      '::',
      '::ffff:7f00:1',
      '::ffff:a00:1',
      '64:ff9b::7f00:1',
      '64:ff9b::10.0.0.1',
      '2002:7f00:1::1',
      '2002:c0a8:101::',
      '192.0.0.8',
      '198.18.0.1',
      '198.19.255.255',
      '224.0.0.1',
      '239.255.255.250',
      '240.0.0.1',
      '255.255.255.255',
      'fec0::1',
      'ff02::1',
      '::127.0.0.1',
    ])
      expect(isPublicAddress(address), address).to.equal(false);
    for (const address of [
      '8.8.8.8',
      '172.32.0.1',
      '2606:4700::1111',
      '::ffff:1.1.1.1',
      '::ffff:808:808',
      '64:ff9b::808:808',
      '2002:808:808::1',
      '198.20.0.1',
      '223.255.255.255',
    ])
      expect(isPublicAddress(address), address).to.equal(true);
  });

  it('treats a host resolving to a private address as a misconfiguration: the flow pauses naming host and address, no retries spent, nothing dead-lettered', async () => {
    const target = await server(202);
    servers.push(target.server);
    const port = new URL(target.url).port;
    const real = new QualtricsHttpSender({
      url: `http://localhost:${port}/event`,
      auth: { kind: 'header', apiToken: 't' },
      publicAddressesOnly: true,
    });
    let sends = 0;
    const sender = { send: (body: string) => ((sends += 1), real.send(body)) };
    const context = testContext(undefined, { sender });
    const books = new Books();
    const options = decodeOrThrow(EmitOptions, { retry: { maxAttempts: 2, downAfter: 2, baseMs: 1, maxMs: 5 } });
    const envelopes = ['ann', 'bob', 'cy'].map((name, index) => ({
      ...profileEnvelope(books.ledger, profileOf({}), `${index + 1}-0`, { segmentMembership: { ups: {} } }),
      identity: { namespace: 'Email', target: 'email' as const, id: `${name}@example.com` },
    }));
    const subscription = from(envelopes).pipe(mergeWith(NEVER), emit(options, context)).subscribe();
    try {
      // Past maxAttempts for each of the three, and past downAfter in a row: neither counts.
      while (sends < 12) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(context.valve.reasons.get(DESTINATION_REJECTED)).to.match(
        /refused: localhost resolves to (127\.0\.0\.1|::1), a private, loopback, link-local or reserved address \(set destination\.allowAnyHost: true/,
      );
      expect(context.valve.reasons.has(DESTINATION_DOWN)).to.equal(false);
      expect(context.deadLettered).to.deep.equal([]);
      expect(books.settled).to.deep.equal([]);
      expect(target.hits()).to.equal(0);
    } finally {
      subscription.unsubscribe();
    }
  });
});
