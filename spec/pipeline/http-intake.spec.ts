import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig, type Started } from '../../pipeline/run.js';
import { sample } from '../helpers/metrics.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/ws-server.js';

const TOKEN = 'qualtrics-api-token';
const FEED_TOKEN = 'aep-bearer-token';

/** A profile as AEP's HTTP API destination exports it: attributes, identityMap, segmentMembership.ups. */
const aepProfile = (n: number, audience = 'a1'): object => ({
  person: { name: { firstName: `first${n}` } },
  identityMap: { Email: [{ id: `p${n}@example.com`, primary: true }], ECID: [{ id: `ecid-${n}` }] },
  segmentMembership: { ups: { [audience]: { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' } } },
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Names and values as sent, repeats kept (Node keeps only the first Content-Type in `headers`). */
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** One request over a real socket; `tls` for HTTPS (with the client's own certificate, if any). */
const send = (
  url: string,
  {
    method = 'POST',
    headers = {},
    body,
    tls,
  }: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  } = {},
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const options = { method, headers, ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });

const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${FEED_TOKEN}` },
  body: JSON.stringify(body),
});

describe('the HTTPS intake for Adobe Experience Platform (real sockets, real Redis)', function () {
  this.timeout(60_000);
  let fixture: RedisFixture;
  let standIn: QualtricsStandIn;
  let started: Started | undefined;
  let rejecting = false;
  beforeEach(async () => {
    fixture = new RedisFixture();
    rejecting = false;
    standIn = await QualtricsStandIn.start({
      apiToken: TOKEN,
      respond: () => (rejecting ? { status: 401, body: { meta: { error: 'no' } } } : undefined),
    });
  });
  afterEach(async () => {
    await started?.stop();
    started = undefined;
    await standIn.close();
    await fixture.cleanup();
  });

  const journal = () => `${fixture.prefix}:journal`;
  const start = async (http: string, extra = ''): Promise<string> => {
    const port = await freePort();
    const config = parseConfig(
      `
name: AEP
source: { http: { port: ${port}, ${http.includes('auth:') ? '' : `auth: { bearer: ${FEED_TOKEN} }, `}maxBodyBytes: 2048${http} } }
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
journal: { stream: "${journal()}"${extra} }
destination: { url: "${standIn.url}", apiToken: ${TOKEN}, auth: header, allowAnyHost: true, retry: { baseMs: 20, maxMs: 100 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
`,
      {},
    );
    started = await startFromConfig(config, silentLogger());
    return `http://127.0.0.1:${port}/profiles`;
  };
  const stored = async () => fixture.connect().xlen(journal());

  it('answers every bad request with its status, stores nothing, and counts each answer', async () => {
    const url = await start('');
    const bad: Array<[string, Promise<Answer>, number]> = [
      ['no token', send(url, { headers: { 'content-type': 'application/json' }, body: '{}' }), 401],
      [
        'a wrong token',
        send(url, { ...json({}), headers: { ...json({}).headers, authorization: 'Bearer nope' } }),
        401,
      ],
      ['another path', send(url.replace('/profiles', '/other'), json({})), 404],
      ['another method', send(url, { method: 'PUT', ...json({}) }), 405],
      ['no length', send(url, { ...json({}), headers: { ...json({}).headers, 'transfer-encoding': 'chunked' } }), 411],
      ['too large', send(url, json({ pad: 'x'.repeat(4096) })), 413],
      [
        'not JSON by type',
        send(url, { ...json({}), headers: { ...json({}).headers, 'content-type': 'text/plain' } }),
        415,
      ],
      ['not JSON', send(url, { ...json({}), body: '{"broken":' }), 400],
    ];
    for (const [what, answer, status] of bad) expect((await answer).status, what).to.equal(status);
    const unauthorized = await send(url, { headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unauthorized.headers['www-authenticate']).to.equal(
      'Bearer realm="qualtrics-automations", error="invalid_token"',
    );
    expect((await send(url, { method: 'GET' })).headers.allow).to.equal('POST');
    expect(JSON.parse((await send(url, { ...json({}), body: '[1,' })).body))
      .to.have.property('error')
      .that.matches(/^the body is not JSON/);
    expect(await stored()).to.equal(0);
    const metrics = await started!.metrics.registry.metrics();
    expect(sample(metrics, 'qualtrics_automations_intake_requests_total{status="401"}')).to.equal(3);
    expect(sample(metrics, 'qualtrics_automations_intake_requests_total{status="413"}')).to.equal(1);
  });

  it('stores single profiles and lists before answering 200, keeps answering 200 while the destination refuses, then drains', async () => {
    const url = await start('');
    rejecting = true;
    const answers = [];
    for (let n = 0; n < 10; n += 1) answers.push(await send(url, json(aepProfile(n))));
    answers.push(await send(url, json([aepProfile(10), { identityMap: 42 }, aepProfile(11, 'other')])));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(11).fill(200));
    // Stored before the answer: the journal has every body, whatever the destination says.
    expect(await stored()).to.equal(11);
    await eventually(() => standIn.requests.length > 0, 10_000, 'the destination tried');
    expect(standIn.runs).to.have.length(0);
    rejecting = false;
    const { ledger } = started!.flows[0]!.pipeline;
    await eventually(() => standIn.runs.length === 11, 20_000, 'every qualified profile delivered');
    await ledger.whenSettled(13);
    expect(ledger.counts()).to.deep.include({ delivered: 11, excluded: { 'invalid-profile': 1, 'not-qualified': 1 } });
    expect(new Set(standIn.runs.map((run) => JSON.stringify(run.payload))).size).to.equal(11);
  });

  it('answers 503 with Retry-After when the journal is full, and 200 again once there is room', async () => {
    const url = await start('', ', maxLength: 100');
    rejecting = true;
    const answers = [];
    for (let n = 0; n < 101; n += 1) answers.push((await send(url, json(aepProfile(n)))).status);
    expect(answers.slice(0, 100)).to.deep.equal(Array(100).fill(200));
    const refused = await send(url, json(aepProfile(200)));
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('5');
    expect(answers[100]).to.equal(503);
    rejecting = false;
    await eventually(async () => (await send(url, json(aepProfile(300)))).status === 200, 20_000, 'room again');
  });

  it('with mutual TLS, refuses a client without a certificate the CA signed, at the handshake', async () => {
    const dir = tempDir();
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
    );
    const signed = (name: string, cn: string, ext: string[] = []) => {
      openssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${cn}`,
      );
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        ...ext,
      );
    };
    const extFile = join(dir, 'san.ext');
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > ${extFile}`]);
    signed('server', '127.0.0.1', ['-extfile', extFile]);
    signed('client', 'aep');
    const read = (name: string) => execFileSync('cat', [join(dir, name)]);
    const url = (
      await start(
        `, tls: { cert: "${join(dir, 'server.crt')}", key: "${join(dir, 'server.key')}", ca: "${join(dir, 'ca.crt')}", requireClientCert: true }`,
      )
    ).replace('http:', 'https:');
    const ok = await send(url, {
      ...json(aepProfile(1)),
      tls: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') },
    });
    expect(ok.status).to.equal(200);
    const refused = await send(url, { ...json(aepProfile(2)), tls: { ca: read('ca.crt') } }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    expect(refused).to.not.equal('answered');
    expect(await stored()).to.equal(1);
  });

  it('cuts off a client that does not finish its request in time, and bounds the open connections', async () => {
    const url = new URL(await start(', requestTimeoutMs: 1000, maxConnections: 2'));
    const { connect } = await import('node:net');
    /** A raw connection, and when it closes (ms after it opened), watched from the start. */
    const open = () => {
      const at = Date.now();
      const socket = connect(Number(url.port), '127.0.0.1');
      socket.on('error', () => {});
      // Read what comes (a 408): a socket that is never read never sees the end, nor closes.
      socket.resume();
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - at)));
      return new Promise<{ socket: typeof socket; closed: Promise<number> }>((resolve) =>
        socket.on('connect', () => resolve({ socket, closed })),
      );
    };
    // A slow client: headers begun, never finished.
    const slow = await open();
    slow.socket.write('POST /profiles HTTP/1.1\r\nHost: x\r\n');
    expect(await slow.closed).to.be.below(5_000);
    // Two connections held open; a third is closed at once, with nothing read.
    const held = [await open(), await open()];
    const third = await open();
    expect(await third.closed).to.be.below(1_000);
    for (const { socket } of held) socket.destroy();
    expect(await stored()).to.equal(0);
  });

  describe('OAuth 2.0 client credentials, as AEP uses them', () => {
    const oauth = ', auth: { oauth2: { clientId: aep, clientSecret: the-client-secret } }';
    const tokenFrom = async (url: string, how: 'body' | 'basic'): Promise<string> => {
      const form = new URLSearchParams({ grant_type: 'client_credentials' });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (how === 'body') {
        form.set('client_id', 'aep');
        form.set('client_secret', 'the-client-secret');
      } else headers.authorization = `Basic ${Buffer.from('aep:the-client-secret').toString('base64')}`;
      const answer = await send(url.replace('/profiles', '/oauth/token'), { headers, body: form.toString() });
      expect(answer.status, answer.body).to.equal(200);
      // One Content-Type, the token endpoint's own (a strict client refuses a repeated one).
      const types = answer.rawHeaders.filter(
        (_, i) => i % 2 === 1 && /^content-type$/i.test(answer.rawHeaders[i - 1]!),
      );
      expect(types).to.deep.equal(['application/json; charset=utf-8']);
      const body = JSON.parse(answer.body) as { access_token: string; token_type: string; expires_in: number };
      expect(body.token_type).to.equal('Bearer');
      expect(body.expires_in).to.be.a('number');
      return body.access_token;
    };
    const withToken = (token: string, body: unknown) => ({
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

    it('serves the token endpoint (credentials in the body or in Basic auth) and accepts only its own tokens', async () => {
      const url = await start(oauth);
      for (const how of ['body', 'basic'] as const) {
        const token = await tokenFrom(url, how);
        expect((await send(url, withToken(token, aepProfile(how === 'body' ? 1 : 2)))).status).to.equal(200);
      }
      // The static bearer token of another deployment, and a token this one did not sign, are refused.
      expect((await send(url, json(aepProfile(3)))).status).to.equal(401);
      const forged = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZXAifQ.c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ';
      expect((await send(url, withToken(forged, aepProfile(4)))).status).to.equal(401);
      expect(await stored()).to.equal(2);
    });

    it('takes a realistic feed from a client that behaves like AEP and delivers every qualified profile once', async () => {
      const url = await start(oauth);
      /**
       * AEP's HTTP API destination, in small: it fetches a token (body credentials, then Basic on each
       * refetch), posts one profile or a batch, retries a 429 or 5xx twice (15 and 30 s in AEP; 100 and
       * 200 ms here) and then drops the export, and fetches a new token on a 401.
       */
      let token = await tokenFrom(url, 'body');
      const dropped: unknown[] = [];
      const exportOnce = async (body: unknown): Promise<void> => {
        for (const wait of [0, 100, 200]) {
          if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
          let answer = await send(url, withToken(token, body));
          if (answer.status === 401) {
            token = await tokenFrom(url, 'basic');
            answer = await send(url, withToken(token, body));
          }
          if (answer.status === 200) return;
          if (answer.status !== 429 && answer.status < 500) break;
        }
        dropped.push(body);
      };
      // 120 profiles: every fourth is not in the audience; batches of 1 to 5, as AEP may aggregate them.
      const profiles = Array.from({ length: 120 }, (_, n) => aepProfile(n, n % 4 === 3 ? 'not-mapped' : 'a1'));
      rejecting = true; // Qualtrics refuses the credentials for a while: AEP must not notice.
      for (let i = 0, size = 1; i < profiles.length; i += size, size = (size % 5) + 1) {
        const batch = profiles.slice(i, i + size);
        await exportOnce(batch.length === 1 ? batch[0] : batch);
        // Now and then the token is revoked, as a rotated secret would: AEP fetches another.
        if (i % 37 === 0) token = 'revoked';
      }
      expect(dropped).to.deep.equal([]);
      rejecting = false;
      const qualified = profiles.filter((_, n) => n % 4 !== 3).length;
      await eventually(() => standIn.runs.length >= qualified, 30_000, 'every qualified profile delivered');
      await started!.flows[0]!.pipeline.ledger.whenSettled(120);
      const delivered = standIn.runs.map((run) => JSON.stringify(run.payload));
      expect(delivered).to.have.length(qualified);
      expect(new Set(delivered).size).to.equal(qualified);
      expect(started!.flows[0]!.pipeline.ledger.counts()).to.deep.include({
        received: 120,
        delivered: qualified,
        excluded: { 'not-qualified': 120 - qualified },
        failed: {},
      });
    });

    it('refuses a token once it has expired, and AEP gets a new one', async () => {
      const url = await start(
        oauth.replace('clientSecret: the-client-secret', 'clientSecret: the-client-secret, tokenTtlSeconds: 1'),
      );
      const token = await tokenFrom(url, 'body');
      expect((await send(url, withToken(token, aepProfile(1)))).status).to.equal(200);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const expired = await send(url, withToken(token, aepProfile(2)));
      expect(expired.status).to.equal(401);
      expect(JSON.parse(expired.body)).to.deep.equal({ error: 'the token is expired' });
      expect((await send(url, withToken(await tokenFrom(url, 'basic'), aepProfile(2)))).status).to.equal(200);
    });

    it("runs as several processes behind one token endpoint: each accepts the others' tokens", async () => {
      const first = await start(oauth);
      const firstStarted = started!;
      // A second process of the same deployment (same Redis, same journal), on its own port.
      const second = await start(oauth);
      const token = await tokenFrom(first, 'body');
      expect((await send(second, withToken(token, aepProfile(1)))).status).to.equal(200);
      expect((await send(first, withToken(await tokenFrom(second, 'basic'), aepProfile(2)))).status).to.equal(200);
      await firstStarted.stop();
    });
  });
});
