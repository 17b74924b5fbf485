import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Node-RED as the end-to-end benchmark's third contender (issue #13, goal 4: at least 1.3x Node-RED),
 * built the way reference/facts.md describes a Node-RED activation: websocket-in (a client of the feed),
 * a function node that parses, qualifies, maps and dedupes (in the node's memory: Node-RED has no
 * dedupe of its own), and http request (got, keep-alive on, retries off, Node-RED's own settings). It
 * reads the same config file as the other two and sends the same body. Not a dependency of the product:
 * `npm run bench:node-red` installs it under .bench/node-red (Node-RED 4, the newest major that runs on
 * Node 20; 5 needs Node 22), and the bench adds it to the throughput part when it finds it there, or
 * where `--node-red <dir>` points (a folder holding node_modules/node-red).
 *
 * What it does not do, as a Node-RED flow would not without more nodes: validate the update against the
 * Profile codec (so an update the other two refuse, a number where a time belongs or a blank id, can go
 * out as it is; the bench feeds only valid updates), hold the intake back (websocket-in has no
 * backpressure: every update is handed on as it arrives, every POST starts at once), retry, dead
 * letters, order, durable dedupe.
 */
export const NODE_RED_HOME = '.bench/node-red';

/** Node-RED's start script under `home`, or undefined when Node-RED is not installed there. */
export const nodeRedMain = (home: string = NODE_RED_HOME): string | undefined => {
  const main = resolve(home, 'node_modules/node-red/red.js');
  return existsSync(main) ? main : undefined;
};

/** The version of the Node-RED whose start script is `main` (its package.json beside it). */
export const nodeRedVersion = (main: string): string =>
  (JSON.parse(readFileSync(join(dirname(main), 'package.json'), 'utf8')) as { version: string }).version;

/** The part of the benchmark's config file (bench/end-to-end.ts `writeConfig`) the flow is built from. */
export interface NodeRedConfig {
  readonly source: { readonly websocket?: { readonly url: string } };
  readonly destination: { readonly url: string; readonly apiToken: string };
  readonly audiences: ReadonlyArray<{ readonly id: string }>;
  readonly identities: ReadonlyArray<{ readonly source: string; readonly target: string }>;
  readonly attributes: ReadonlyArray<{ readonly source: string; readonly target: string }>;
}

/**
 * The function node's body: Node-RED runs it once per message in its sandbox, with `msg`, `context`,
 * `global` and `node` in scope, and `setup` (JSON, the config's mapping) spliced in. Returns the message
 * to POST, or null to drop it. The body is built in the order the product and the hand-written pipeline
 * use (attributes, identityMap, segmentMembership), so the bench can check all three send the same bytes.
 */
const functionBody = (setup: string): string => `
const { audiences, identities, attributes, token } = ${setup};
const crypto = global.get('crypto');
const seen = context.get('seen') ?? new Set();
context.set('seen', seen);
let profile;
try { profile = JSON.parse(msg.payload); } catch { return null; }
if (typeof profile !== 'object' || profile === null) return null;
const ups = {};
let qualified = false;
for (const id of audiences) {
  const membership = profile.segmentMembership?.ups?.[id];
  if (!membership || (membership.status !== 'realized' && membership.status !== 'exited')) continue;
  ups[id] = membership.lastQualificationTime === undefined
    ? { status: membership.status }
    : { lastQualificationTime: membership.lastQualificationTime, status: membership.status };
  qualified = true;
}
if (!qualified) return null;
const identityMap = {};
let identity;
for (const { source, target } of identities) {
  const ids = (profile.identityMap?.[source] ?? []).map((entry) => entry.id)
    .filter((id) => typeof id === 'string' && (target !== 'email' || /^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$/.test(id)));
  if (ids.length === 0) continue;
  identityMap[source] = ids.map((id) => ({ id }));
  identity ??= target + ':' + (target === 'email' ? ids[0].toLowerCase() : ids[0]);
}
if (identity === undefined) return null;
const payload = {};
for (const { source, target } of attributes) {
  let value = profile;
  for (const step of source) value = typeof value === 'object' && value !== null ? value[step] : undefined;
  if (value === undefined) continue;
  let at = payload;
  for (const step of target.slice(0, -1)) at = at[step] ??= {};
  at[target[target.length - 1]] = value;
}
payload.identityMap = identityMap;
payload.segmentMembership = { ups };
const body = JSON.stringify(payload);
const key = identity + ':' + crypto.createHash('sha256').update(body).digest('base64url');
if (seen.has(key)) return null;
seen.add(key);
msg.payload = body;
msg.headers = { 'content-type': 'application/json', 'x-api-token': token };
return msg;
`;

/** Writes Node-RED's settings and flow file into `dir` (its user directory); returns the arguments to start it. */
export const writeNodeRed = (main: string, dir: string, config: NodeRedConfig): string[] => {
  if (!config.source.websocket) throw new Error('the Node-RED contender reads a WebSocket feed only');
  const setup = JSON.stringify({
    audiences: config.audiences.map((a) => a.id),
    identities: config.identities,
    attributes: config.attributes.map((a) => ({ source: a.source.split('.'), target: a.target.split('.') })),
    token: config.destination.apiToken,
  });
  const flow = [
    { id: 'tab', type: 'tab', label: 'activation' },
    { id: 'feed', type: 'websocket-client', path: config.source.websocket.url, wholemsg: 'false', hb: '0' },
    { id: 'in', type: 'websocket in', z: 'tab', client: 'feed', wires: [['map']] },
    { id: 'map', type: 'function', z: 'tab', func: functionBody(setup), outputs: 1, wires: [['post']] },
    {
      id: 'post',
      type: 'http request',
      z: 'tab',
      method: 'POST',
      ret: 'txt',
      url: config.destination.url,
      persist: true,
      senderr: false,
      wires: [[]],
    },
  ];
  const settings = join(dir, 'node-red-settings.cjs');
  // No editor, no HTTP server of its own, logs at warn as the other two: only the flow runs.
  writeFileSync(
    settings,
    `module.exports = {
  httpAdminRoot: false, httpNodeRoot: false, disableEditor: true, credentialSecret: false,
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  functionGlobalContext: { crypto: require('node:crypto') },
  telemetry: { enabled: false }, diagnostics: { enabled: false },
};
`,
  );
  const flowFile = join(dir, 'node-red-flow.json');
  writeFileSync(flowFile, JSON.stringify(flow));
  return [main, '--settings', settings, '--userDir', dir, flowFile];
};
