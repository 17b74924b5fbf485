import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import got from 'got';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

interface LogLine {
  readonly level: number;
  readonly msg: string;
}

/** The structured log lines of a process's stderr (every line must be one: nothing prints outside the log). */
const logLines = (stderr: string): LogLine[] =>
  stderr
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);

const FATAL = 60;

interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, { ok: boolean; detail: string }>;
}

const readyz = async (port: number): Promise<{ status: number; body: Readiness }> => {
  const response = await got(`http://127.0.0.1:${port}/readyz`, { throwHttpErrors: false, retry: { limit: 0 } });
  return { status: response.statusCode, body: JSON.parse(response.body) as Readiness };
};

describe('truthful operation: a process that cannot do its job says so (real processes)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  let standIn: QualtricsStandIn | undefined;
  let feed: TestWebSocketServer | undefined;
  let fixture: RedisFixture | undefined;
  let blocker: Server | undefined;
  afterEach(async () => {
    processes.killAll();
    await standIn?.close();
    await feed?.close();
    await fixture?.cleanup();
    await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
    standIn = feed = fixture = blocker = undefined;
  });

  const writeConfig = (body: string, destination = 'retry: { baseMs: 10, maxMs: 200 }'): string => {
    const file = join(tempDir(), 'config.yaml');
    writeFileSync(
      file,
      `
name: Truthful
destination: { url: "${standIn!.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, ${destination} }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
${body}
`,
    );
    return file;
  };

  /** A port some other process holds. */
  const takenPort = async (): Promise<number> => {
    const port = await freePort();
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(port, '127.0.0.1', resolve));
    return port;
  };

  it('refuses to start on a taken observability port: exit 1, one line naming the key, and no input taken', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    feed = await TestWebSocketServer.start();
    const port = await takenPort();
    const file = writeConfig(
      `source: { websocket: { url: "${feed.url}" } }\ndeadLetters: { file: ${deadLetterFile()} }\nobservability: { port: ${port} }`,
    );
    const { code, stderr } = await finished(processes.start(['run', '--config', file]));
    expect(code).to.equal(1);
    const fatal = logLines(stderr).filter((line) => line.level === FATAL);
    expect(fatal).to.have.length(1);
    expect(fatal[0]!.msg).to.match(/^run failed: observability\.port: 127\.0\.0\.1:\d+ is in use by another process/);
    expect(feed.connections, 'the feed was never connected to').to.have.length(0);
  });

  it('refuses to start on a taken listen port, naming source.websocket.listen.port, with nothing left running', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    const port = await takenPort();
    const observability = await freePort();
    const file = writeConfig(
      `source: { websocket: { listen: { port: ${port}, token: producer-secret } } }\n` +
        `deadLetters: { file: ${deadLetterFile()} }\nobservability: { port: ${observability} }`,
    );
    const { code, stderr } = await finished(processes.start(['run', '--config', file]));
    expect(code).to.equal(1);
    expect(logLines(stderr).find((line) => line.level === FATAL)!.msg).to.match(
      /source\.websocket\.listen\.port: .* is in use/,
    );
    // The observability server it had bound is closed again: the port is free.
    const probe = createServer();
    await new Promise<void>((resolve, reject) =>
      probe.once('error', reject).listen(observability, '127.0.0.1', resolve),
    );
    await new Promise((resolve) => probe.close(resolve));
  });

  it('exits 1 with one line saying what failed when its stream cannot be read (a key of another type)', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    fixture = new RedisFixture();
    const stream = `${fixture.prefix}:updates`;
    await fixture.connect().set(stream, 'not a stream');
    const file = writeConfig(
      `source: { redisStream: { stream: "${stream}", group: workers } }\nredis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }\n` +
        'observability: { port: 0 }',
    );
    const { code, stderr } = await finished(processes.start(['run', '--config', file]));
    expect(code).to.equal(1);
    const fatal = logLines(stderr).filter((line) => line.level === FATAL);
    expect(fatal.map((line) => line.msg)).to.have.length(1);
    expect(fatal[0]!.msg).to.match(/^run failed: WRONGTYPE/);
  });

  it('says in /readyz that a full journal paused the intake, and is ready again once it drains', async () => {
    let answering = false;
    const held: Array<() => void> = [];
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      // Nothing is answered until the test lets it: the journal fills with pending work.
      respond: () => (answering ? undefined : new Promise((resolve) => held.push(() => resolve(undefined)))),
    });
    feed = await TestWebSocketServer.start();
    fixture = new RedisFixture();
    const port = await freePort();
    const stream = `${fixture.prefix}:journal`;
    const file = writeConfig(
      `source: { websocket: { url: "${feed.url}" } }\nredis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }\n` +
        `journal: { stream: "${stream}", maxLength: 100 }\nobservability: { port: ${port} }`,
      'timeoutMs: 60000, concurrency: 4',
    );
    const child = processes.start(['run', '--config', file]);
    const socket = await feed.connection(1);
    await eventually(async () => (await readyz(port)).status === 200, 10_000, 'ready');
    for (let i = 0; i < 150; i += 1) socket.send(JSON.stringify(updateFor(`p${i}@example.com`)));
    await eventually(
      async () => (await readyz(port)).body.checks.intake?.detail.includes('journal-full') === true,
      10_000,
      'journal full',
    );
    const { status, body } = await readyz(port);
    expect(status).to.equal(503);
    expect(body.checks.intake!.ok).to.equal(false);
    const redis = fixture.connect();
    expect(await redis.xlen(stream), 'never past maxLength').to.be.within(1, 100);
    answering = true;
    for (const release of held.splice(0)) release();
    await eventually(
      () => new Set(standIn!.requests.map((r) => r.body.toString())).size === 150,
      20_000,
      'all 150 delivered',
    );
    await eventually(async () => (await readyz(port)).status === 200, 10_000, 'ready again');
    await eventually(async () => (await redis.xlen(stream)) === 0, 10_000, 'the journal drained to what is pending');
    child.kill('SIGTERM');
    expect((await finished(child)).code).to.equal(0);
  });

  it('exits 3 and says how many were lost when a stop leaves updates from a plain WebSocket unsettled', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN, respond: () => ({ status: 401 }) });
    feed = await TestWebSocketServer.start();
    const file = writeConfig(
      `source: { websocket: { url: "${feed.url}" } }\ndeadLetters: { file: ${deadLetterFile()} }\nobservability: { port: 0 }\nshutdownGraceMs: 60000`,
    );
    const child = processes.start(['run', '--config', file]);
    const done = finished(child);
    const socket = await feed.connection(1);
    for (let i = 0; i < 3; i += 1) socket.send(JSON.stringify(updateFor(`p${i}@example.com`)));
    await eventually(() => standIn!.requests.length >= 3, 10_000, 'attempts while rejected');
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code).to.equal(3);
    expect(stderr).to.match(
      /"detail":"3 update\(s\) lost \(a plain WebSocket cannot take them back\)","msg":"pipeline stopped"/,
    );
  });
});
