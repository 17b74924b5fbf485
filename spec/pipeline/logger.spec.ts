import { expect } from 'chai';
import { createServer, type Socket } from 'node:net';
import { QualtricsHttpSender } from '../../adapters/qualtrics/http-sender.js';
import { freePort } from '../helpers/ports.js';
import { captureLog } from '../helpers/log-capture.js';

const API_TOKEN = 'logger-api-token-SECRET-1';
const USERNAME = 'survey.admin@example.com';
const BASIC = Buffer.from(`${USERNAME}:${API_TOKEN}`).toString('base64');
const SECRETS = [API_TOKEN, BASIC, 'SECRET-'];

const capture = captureLog;

/** The error got rejects with when the endpoint cannot be reached: its `options` carry the request headers. */
const gotErrorFrom = async (auth: ConstructorParameters<typeof QualtricsHttpSender>[0]['auth']): Promise<Error> => {
  const port = await freePort();
  const sender = new QualtricsHttpSender({ url: `http://127.0.0.1:${port}/events`, auth, timeoutMs: 5_000 });
  try {
    await sender.send('{}');
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the send to fail');
};

/** The error got rejects with when the endpoint accepts the connection and never answers (a timeout). */
const gotTimeoutError = async (): Promise<Error> => {
  // It keeps the connection and never reads it: destroyed at the end, or the closed connection would
  // stay half-open here (nothing reads its end) and keep mocha from exiting.
  const connections: Socket[] = [];
  const silent = createServer((socket) => void connections.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const sender = new QualtricsHttpSender({
    url: `http://127.0.0.1:${port}/e`,
    auth: { kind: 'header', apiToken: API_TOKEN },
    timeoutMs: 50,
  });
  try {
    await sender.send('{}');
    throw new Error('expected a timeout');
  } catch (error) {
    return error as Error;
  } finally {
    for (const connection of connections) connection.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
};

describe('logger: credentials never reach a log line', () => {
  it('censors the Authorization and X-API-TOKEN headers a got error carries, however it is logged', async () => {
    const basic = await gotErrorFrom({ kind: 'basic', username: USERNAME, apiToken: API_TOKEN });
    const header = await gotErrorFrom({ kind: 'header', apiToken: API_TOKEN });
    const timeout = await gotTimeoutError();
    // The premise: these errors really do carry the secrets, where a fixed list of paths would not look.
    const options = (error: Error) => JSON.stringify((error as Error & { options: unknown }).options);
    expect(options(basic)).to.contain(BASIC);
    expect(options(header)).to.contain(API_TOKEN);

    const { logger, lines } = capture();
    for (const error of [basic, header, timeout]) {
      logger.error(error, 'as the object');
      logger.error({ err: error }, 'under err');
      logger.warn({ error }, 'under error');
      logger.warn({ attempt: { n: 3, failure: { error } } }, 'nested');
      logger.warn({ attempts: [{ error }] }, 'in a list');
      logger.warn({ wrapped: new Error('delivery failed', { cause: error }) }, 'as a cause');
    }
    const output = lines();
    expect(output).to.have.length(18);
    for (const secret of SECRETS) expect(output.join('\n')).to.not.contain(secret);

    // What helps an operator is kept: the kind of error, its message and code, and where headers were.
    const first = JSON.parse(output[0]!) as {
      err: { type: string; code: string; options: { headers: Record<string, string> } };
    };
    expect(first.err).to.include({ type: 'RequestError', code: 'ECONNREFUSED' });
    expect(first.err.options.headers).to.include({ authorization: '[redacted]', 'content-type': 'application/json' });
    const nested = JSON.parse(output[9]!) as {
      attempt: { failure: { error: { options: { headers: Record<string, string> } } } };
    };
    expect(nested.attempt.failure.error.options.headers).to.include({ 'x-api-token': '[redacted]' });
  });

  it('censors credential keys in plain objects at any depth, whatever their case', () => {
    const { logger, lines } = capture();
    logger.info({ headers: { Authorization: `Basic ${BASIC}`, 'X-API-TOKEN': API_TOKEN, accept: '*/*' } }, 'request');
    logger.info({ destination: { apiToken: API_TOKEN, url: 'https://x.qualtrics.com/e' } }, 'config');
    logger.info({ a: { b: { c: { d: { source: { listen: { token: API_TOKEN, port: 1 } } } } } } }, 'deep');
    logger.info({ proxy: { 'Proxy-Authorization': API_TOKEN, password: API_TOKEN, cookie: API_TOKEN } }, 'more');
    const output = lines().join('\n');
    for (const secret of SECRETS) expect(output).to.not.contain(secret);
    expect(output)
      .to.contain('"accept":"*/*"')
      .and.contain('"url":"https://x.qualtrics.com/e"')
      .and.contain('"port":1');
  });

  it('survives a circular object and keeps values that are not credentials', () => {
    const { logger, lines } = capture();
    const loop: Record<string, unknown> = { name: 'loop' };
    loop['self'] = loop;
    logger.info({ loop, at: new Date(0), count: 3, empty: { token: '' } }, 'odd shapes');
    expect(JSON.parse(lines()[0]!)).to.deep.include({
      loop: { name: 'loop', self: '[circular]' },
      at: '1970-01-01T00:00:00.000Z',
      count: 3,
      empty: { token: '' },
    });
  });
});
