import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectRedis } from '../adapters/redis/connection.js';

/**
 * The intake benchmark's baseline, run as its own process (as the contender is): the least a correct
 * AEP intake must do per request. It checks the bearer token (in constant time), reads the body,
 * JSON.parse's it, appends it to a Redis stream with one XADD (on the same kind of connection as the
 * pipeline's: ioredis with autopipelining) and answers 200 once Redis said so. No path, method, type
 * or size checks, no batching, no identity numbering, no metrics. Started by bench/intake.ts with its
 * settings in the environment; prints the port it listens on.
 */
const { BASELINE_TOKEN = '', BASELINE_STREAM = '', REDIS_URL = 'redis://127.0.0.1:6379' } = process.env;
const expected = Buffer.from(`Bearer ${BASELINE_TOKEN}`);
const redis = connectRedis(REDIS_URL, 'qa-bench-intake-baseline');

const authorized = (header: string | undefined): boolean => {
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
};

const server = createServer((request, response) => {
  if (!authorized(request.headers.authorization)) {
    request.resume();
    response.writeHead(401).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      response.writeHead(400).end();
      return;
    }
    redis.xadd(BASELINE_STREAM, '*', 'profile', body).then(
      () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"stored":true}'),
      () => response.writeHead(503).end(),
    );
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void redis.quit().then(() => process.exit(0));
});
