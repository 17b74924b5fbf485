import { expect } from 'chai';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { QualtricsHttpSender } from '../../../adapters/qualtrics/http-sender.js';
import { QualtricsStandIn } from '../../../pipeline/demo/qualtrics-stand-in.js';

describe('QualtricsHttpSender (real local HTTP server)', () => {
  let standIn: QualtricsStandIn;
  afterEach(() => standIn?.close());

  it('posts the body unchanged with JSON content type and Basic username:token', async () => {
    standIn = await QualtricsStandIn.start({ username: 'me@example.com', apiToken: 'tok:en' });
    const sender = new QualtricsHttpSender({
      url: standIn.url,
      auth: { kind: 'basic', username: 'me@example.com', apiToken: 'tok:en' },
    });
    const body = '{"firstName":"Zoë","identityMap":{"Email":[{"id":"z@example.com"}]}}';
    expect(await sender.send(body)).to.deep.equal({ status: 202, body: '{"meta":{"httpStatus":"202 - Accepted"}}' });
    const [request] = standIn.requests;
    expect(request!.method).to.equal('POST');
    expect(request!.body.equals(Buffer.from(body, 'utf8'))).to.equal(true);
    expect(request!.headers['content-type']).to.equal('application/json');
    expect(request!.headers.authorization).to.equal(`Basic ${Buffer.from('me@example.com:tok:en').toString('base64')}`);
    expect(request!.headers['x-api-token']).to.equal(undefined);
  });

  it('asks for no compression and keeps its connection open from one request to the next', async () => {
    const sockets = new Set<unknown>();
    const encodings: Array<string | undefined> = [];
    const server = createHttpServer((request, response) => {
      sockets.add(request.socket);
      encodings.push(request.headers['accept-encoding']);
      request.resume();
      request.on('end', () => response.writeHead(202, { 'content-length': '0' }).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const sender = new QualtricsHttpSender({
        url: `http://127.0.0.1:${port}/e`,
        auth: { kind: 'header', apiToken: 't' },
      });
      for (let i = 0; i < 3; i += 1) expect((await sender.send('{}')).status).to.equal(202);
      expect(encodings).to.deep.equal([undefined, undefined, undefined]);
      expect(sockets.size).to.equal(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('sends X-API-TOKEN and no Authorization with header auth', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: 'header-token' });
    const sender = new QualtricsHttpSender({ url: standIn.url, auth: { kind: 'header', apiToken: 'header-token' } });
    expect((await sender.send('{}')).status).to.equal(202);
    expect(standIn.requests[0]!.headers['x-api-token']).to.equal('header-token');
    expect(standIn.requests[0]!.headers.authorization).to.equal(undefined);
  });

  it('returns error answers (not exceptions), with their bodies, and does not retry them', async () => {
    standIn = await QualtricsStandIn.start({
      apiToken: 't',
      respond: () => ({ status: 503, body: { meta: { error: 'busy' } }, headers: { 'retry-after': '7' } }),
    });
    const sender = new QualtricsHttpSender({ url: standIn.url, auth: { kind: 'header', apiToken: 'wrong' } });
    expect(await sender.send('{}')).to.deep.equal({ status: 503, body: '{"meta":{"error":"busy"}}', retryAfter: '7' });
    expect(standIn.requests).to.have.length(1);
  });

  it('rejects on a refused connection and on a timeout', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = new QualtricsHttpSender({
      url: `http://127.0.0.1:${port}/e`,
      auth: { kind: 'header', apiToken: 't' },
    });
    await refused.send('{}').then(
      () => expect.fail('should reject'),
      (error: Error) => expect(error.message).to.match(/ECONNREFUSED/),
    );

    standIn = await QualtricsStandIn.start({
      apiToken: 't',
      respond: () => new Promise((resolve) => setTimeout(() => resolve({ status: 202 }), 500)),
    });
    const impatient = new QualtricsHttpSender({
      url: standIn.url,
      auth: { kind: 'header', apiToken: 't' },
      timeoutMs: 50,
    });
    await impatient.send('{}').then(
      () => expect.fail('should time out'),
      (error: Error) => expect(error.message).to.match(/Timeout awaiting 'request' for 50ms/),
    );
  });
});
