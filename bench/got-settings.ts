import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import got, { type Got } from 'got';
import { QualtricsHttpSender } from '../adapters/qualtrics/http-sender.js';
import { updateOf } from './flows.js';

/**
 * got as the sender uses it, setting by setting, against `node:http` by hand: what each setting of the
 * one got instance is worth in CPU per POST. The endpoint (answers 202, empty body) runs in a child
 * process, so this process's CPU is the client's alone.
 */
export type GotVariant =
  | 'got.post, defaults'
  | 'one instance (sender before)'
  | '+ decompress: false'
  | '+ own keep-alive agent'
  | 'QualtricsHttpSender'
  | 'node:http by hand';

export const GOT_VARIANTS: readonly GotVariant[] = [
  'got.post, defaults',
  'one instance (sender before)',
  '+ decompress: false',
  '+ own keep-alive agent',
  'QualtricsHttpSender',
  'node:http by hand',
];

export interface GotResult {
  readonly cpuUsPerRequest: number;
  readonly perSecond: number;
}

const ENDPOINT = `
const server = require('node:http').createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(202, { 'content-length': '0' }).end());
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

/** Starts the endpoint process; answers its URL and how to stop it. */
export const startEndpoint = async (): Promise<{ url: string; child: ChildProcess }> => {
  const child = spawn(process.execPath, ['-e', ENDPOINT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) =>
    child.stdout!.once('data', (data: Buffer) => resolve(String(data).trim())),
  );
  return { url: `http://127.0.0.1:${port}/event`, child };
};

const HEADERS = { 'content-type': 'application/json', 'user-agent': 'bench', 'x-api-token': 'bench-token' };

/** The sender's got options before tuning (adapters/qualtrics/http-sender.ts at d67ccb4). */
const instanceOptions = {
  headers: HEADERS,
  throwHttpErrors: false,
  retry: { limit: 0 },
  followRedirect: false,
  timeout: { request: 10_000 },
} as const;

const byHand = (url: URL, agent: Agent) => (body: string) =>
  new Promise<number>((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: 'POST', agent, headers: { ...HEADERS, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });

const senderOf = (variant: GotVariant, url: string, concurrency: number): ((body: string) => Promise<unknown>) => {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let client: Got;
  switch (variant) {
    case 'got.post, defaults':
      return (body) => got.post(url, { body, headers: HEADERS });
    case 'one instance (sender before)':
      client = got.extend(instanceOptions);
      return (body) => client.post(url, { body });
    case '+ decompress: false':
      client = got.extend({ ...instanceOptions, decompress: false });
      return (body) => client.post(url, { body });
    case '+ own keep-alive agent':
      client = got.extend({ ...instanceOptions, decompress: false, agent: { http: agent } });
      return (body) => client.post(url, { body });
    case 'QualtricsHttpSender': {
      const sender = new QualtricsHttpSender({ url, auth: { kind: 'header', apiToken: 'bench-token' } });
      return (body) => sender.send(body);
    }
    case 'node:http by hand':
      return byHand(new URL(url), agent);
  }
};

/** `requests` POSTs of a ~650-byte profile body, `concurrency` at a time, each slot posting its next when answered. */
export const runGot = async (
  variant: GotVariant,
  url: string,
  requests: number,
  concurrency = 16,
): Promise<GotResult> => {
  const send = senderOf(variant, url, concurrency);
  const body = updateOf(1);
  let next = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next += 1;
        await send(body);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { cpuUsPerRequest: (used.user + used.system) / requests, perSecond: requests / seconds };
};
