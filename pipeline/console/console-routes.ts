import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { messageOf } from '../../operators/model/errors.js';
import { parseJson } from '../../operators/model/json.js';
import type { Role } from '../config/access.js';
import { selectRuns } from '../history.js';
import { readBody, Refusal } from '../../adapters/http/intake-server.js';
import { html } from './html.js';
import type { AccessGate, Caller } from './access-gate.js';
import { backlogOf, latencyOf, seriesOf, summaryOf } from './console-data.js';
import {
  type ConsoleFlow,
  type ConsoleModel,
  FlowActions,
  type LetterChoice,
  redriveRefusal,
} from './console-flows.js';
import {
  configPage,
  deadLettersPage,
  flowDetail,
  flowPage,
  lettersTable,
  loginPage,
  overviewFlows,
  overviewPage,
  RUNS_PAGE,
  type RunsQuery,
  runMatches,
  runsPage,
  runsTable,
  type Viewer,
} from './pages.js';
import { assetOf } from './assets.js';

const BODY_LIMIT = 64 * 1024;

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

const htmlAnswer = (status: number, body: string, headers?: Record<string, string>): Answer => ({
  status,
  type: 'text/html; charset=utf-8',
  body,
  ...(headers ? { headers } : {}),
});
const jsonAnswer = (status: number, body: unknown): Answer => ({
  status,
  type: 'application/json',
  body: `${JSON.stringify(body)}\n`,
});

/** What a dead-letter action takes: some ids, every letter of one reason, or all of them; exactly one. */
const LetterChoiceBody = t.union([
  t.exact(t.type({ ids: t.array(t.string) })),
  t.exact(t.type({ reason: t.string })),
  t.exact(t.type({ all: t.literal(true) })),
]);

/** The role each action needs: `manage` for pausing and dead letters, `activate` for turning a flow on or off. */
const ACTIONS: Readonly<Record<string, Role>> = {
  pause: 'manage',
  resume: 'manage',
  enable: 'activate',
  disable: 'activate',
  'dead-letters/redrive': 'manage',
  'dead-letters/discard': 'manage',
};

/** The body as text, up to 64 KB; more is a `Refusal` 413 that closes the connection. */
const readText = async (request: IncomingMessage): Promise<string> =>
  (await readBody(request, BODY_LIMIT)).toString('utf8');

/** A path segment decoded, or a 400 for a malformed escape (`%E0`). */
const decoded = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Refusal(400, `the path has a malformed escape: ${segment}`);
  }
};

const notFound = (what: string): Answer =>
  htmlAnswer(404, html`<!doctype html><title>Not found</title><p>${what}</p>`.text);

/** A page request from a browser gets the sign-in form; a machine gets a short answer it can read. */
const wantsHtml = (request: IncomingMessage, url: URL): boolean =>
  !url.pathname.startsWith('/api/') &&
  url.pathname !== '/metrics' &&
  url.pathname !== '/runs' &&
  (request.headers.accept ?? '').includes('text/html');

/** A request from a page of this server, or from no page at all (a machine): never from another site's page. */
const sameOrigin = (request: IncomingMessage): boolean => {
  const { origin, host } = request.headers;
  return origin === undefined || origin === `http://${host}` || origin === `https://${host}`;
};

/**
 * The console's routes on the observability server: the pages, their assets, the actions, sign-in, and
 * the access check in front of `/metrics` and `/runs`. `model()` is undefined until the pipeline is up.
 */
export const consoleRoutes = (gate: AccessGate, model: () => ConsoleModel | undefined) => {
  const handle = async (request: IncomingMessage, url: URL): Promise<Answer | undefined> => {
    const { pathname } = url;
    const method = request.method ?? 'GET';
    if (pathname.startsWith('/assets/') && method === 'GET') {
      const asset = await assetOf(pathname.slice('/assets/'.length));
      return asset
        ? { status: 200, type: asset.type, body: asset.body, headers: { 'cache-control': 'max-age=3600' } }
        : undefined;
    }
    if (pathname === '/login') {
      if (gate.isOpen) return { status: 303, type: 'text/plain', body: '', headers: { location: '/' } };
      if (method === 'GET') return htmlAnswer(200, loginPage());
      if (method !== 'POST' || !sameOrigin(request)) return htmlAnswer(403, loginPage('Sign in from this page.'));
      const from = request.socket.remoteAddress ?? '';
      const wait = gate.signInWait(from);
      if (wait > 0)
        return htmlAnswer(429, loginPage(`Too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s).`), {
          'retry-after': String(wait),
        });
      const token = new URLSearchParams(await readText(request)).get('token') ?? '';
      const session = gate.signIn(token, from);
      if (!session) return htmlAnswer(401, loginPage('That token is not valid.'));
      return { status: 303, type: 'text/plain', body: '', headers: { location: '/', 'set-cookie': session.cookie } };
    }
    const caller = gate.callerOf(request);
    if (!caller) {
      if (gate.isOpen)
        return { status: 403, type: 'text/plain', body: 'this console answers only on a loopback address\n' };
      if (wantsHtml(request, url)) return htmlAnswer(401, loginPage());
      return {
        status: 401,
        type: 'text/plain',
        body: 'a token is needed: Authorization: Bearer <token>, or sign in at /login\n',
        headers: { 'www-authenticate': 'Bearer realm="qualtrics-automations"' },
      };
    }
    const missing = (role: Role): Answer =>
      jsonAnswer(403, { error: `${caller.principal.name} does not have the ${role} role` });
    if (!caller.principal.roles.has('view') && method === 'GET') return missing('view');
    // Prometheus and scripts: the health server answers, now that the caller may look. A browser asking
    // for /runs gets the Runs page instead of the JSON.
    const runsPageWanted = pathname === '/runs' && (request.headers.accept ?? '').includes('text/html');
    if (pathname === '/metrics' || (pathname === '/runs' && !runsPageWanted)) return undefined;
    if (method === 'POST') {
      if (!sameOrigin(request) || !gate.isOwnChange(request, caller))
        return jsonAnswer(403, { error: 'missing or wrong x-csrf-token header (reload the page)' });
      if (pathname === '/logout') {
        return { ...jsonAnswer(200, { message: 'signed out' }), headers: { 'set-cookie': gate.signOut(request) } };
      }
    }
    const running = model();
    if (!running) return { status: 503, type: 'text/plain', body: 'starting: the pipeline is not up yet\n' };
    const viewer: Viewer = { caller, open: gate.isOpen };
    const action = /^\/api\/flows\/([^/]+)\/(.+)$/.exec(pathname);
    if (action && method === 'POST') return act(running, caller, decoded(action[1]!), action[2]!, request);
    if (method !== 'GET') return { status: 405, type: 'text/plain', body: 'GET, or POST for an action\n' };
    return look(running, viewer, url);
  };

  const act = async (
    running: ConsoleModel,
    caller: Caller,
    name: string,
    what: string,
    request: IncomingMessage,
  ): Promise<Answer> => {
    const role = ACTIONS[what];
    if (role === undefined)
      return jsonAnswer(404, { error: `no action ${what} (the actions are ${Object.keys(ACTIONS).join(', ')})` });
    if (!caller.principal.roles.has(role))
      return jsonAnswer(403, { error: `${caller.principal.name} does not have the ${role} role` });
    const flow = running.flows.find((candidate) => candidate.flow.name === name);
    if (!flow) {
      const known = running.config.flows.find((candidate) => candidate.name === name);
      return known
        ? jsonAnswer(409, { error: `flow ${name} is off in the config (enabled: false): start it from the config` })
        : jsonAnswer(404, {
            error: `no flow ${name} (the flows are ${running.config.flows.map((f) => f.name).join(', ')})`,
          });
    }
    const actions = new FlowActions(running);
    const by = caller.principal;
    switch (what) {
      case 'pause':
        return jsonAnswer(200, { message: await actions.pause(flow, by) });
      case 'resume':
        return jsonAnswer(200, { message: await actions.resume(flow, by) });
      case 'enable':
        return jsonAnswer(200, { message: await actions.enable(flow, by) });
      case 'disable':
        return jsonAnswer(200, { message: await actions.disable(flow, by) });
      default: {
        const refused = what === 'dead-letters/redrive' ? redriveRefusal(flow) : undefined;
        if (refused !== undefined) return jsonAnswer(409, { error: refused });
        const choice = await letterChoiceOf(request);
        if (typeof choice === 'string') return jsonAnswer(400, { error: choice });
        const message =
          what === 'dead-letters/redrive'
            ? await actions.redrive(flow, by, choice)
            : await actions.discard(flow, by, choice);
        return jsonAnswer(200, { message });
      }
    }
  };

  return async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> => {
    let answer: Answer | undefined;
    try {
      answer = await handle(request, url);
    } catch (error) {
      answer =
        error instanceof Refusal
          ? {
              ...jsonAnswer(error.status, { error: error.message }),
              headers: { ...error.headers, ...(error.close ? { connection: 'close' } : {}) },
            }
          : jsonAnswer(500, { error: messageOf(error) });
      // The rest of an oversized body is not read: the connection goes with the answer.
      if (error instanceof Refusal && error.close) response.once('finish', () => request.socket.destroy());
    }
    if (!answer) return false;
    response
      .writeHead(answer.status, { 'content-type': answer.type, ...answer.headers, ...SECURITY_HEADERS })
      .end(answer.body);
    return true;
  };
};

/** The console's pages run only their own script and styles, and are never framed by another site. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

/** The body of a dead-letter action, or what is wrong with it. */
const letterChoiceOf = async (request: IncomingMessage): Promise<LetterChoice | string> => {
  const decoded = LetterChoiceBody.decode(parseJson(await readText(request)));
  if (isLeft(decoded))
    return `the body must be {"ids": [...]}, {"reason": "..."} or {"all": true}: ${formatErrors(decoded.left).join('; ')}`;
  return decoded.right;
};

const look = async (model: ConsoleModel, viewer: Viewer, url: URL): Promise<Answer | undefined> => {
  const { pathname, searchParams: query } = url;
  const fragment = query.get('fragment');
  const names = model.config.flows.map((flow) => flow.name);
  if (pathname === '/') {
    const summaries = model.config.flows.map((flow) => summaryOf(model, flow));
    if (fragment === 'flows') return htmlAnswer(200, overviewFlows(viewer, summaries).text);
    return htmlAnswer(200, overviewPage(viewer, summaries, model.flows));
  }
  if (pathname === '/api/series') {
    const running = flowNamed(model, query.get('flow'));
    if (!running) return jsonAnswer(404, { error: `no running flow ${query.get('flow')}` });
    const minutes = Math.min(24 * 60, Math.max(1, Number(query.get('minutes') ?? 60) || 60));
    return jsonAnswer(200, seriesOf(running, minutes));
  }
  const flowPath = /^\/flows\/([^/]+)$/.exec(pathname);
  if (flowPath) {
    const name = decoded(flowPath[1]!);
    const running = flowNamed(model, name);
    if (!running) return notFound(`no running flow ${name}`);
    const detail = {
      summary: summaryOf(model, running.flow),
      running,
      latency: await latencyOf(model, running.flow.name),
      backlog: await backlogOf(model, running),
    };
    if (fragment === 'detail') return htmlAnswer(200, flowDetail(viewer, detail).text);
    return htmlAnswer(200, flowPage(viewer, detail));
  }
  if (pathname === '/dead-letters') {
    const running = flowNamed(model, query.get('flow') ?? model.flows[0]?.flow.name ?? null);
    if (!running) return notFound(`no running flow ${query.get('flow') ?? ''}`);
    const table = lettersTable(viewer, running.flow.name, await running.core.deadLetters.entries());
    if (fragment === 'table') return htmlAnswer(200, table.text);
    return htmlAnswer(200, deadLettersPage(viewer, names, running.flow.name, table));
  }
  if (pathname === '/runs') return runsAnswer(model, viewer, query);
  if (pathname === '/config') return htmlAnswer(200, configPage(viewer, model.config));
  return undefined;
};

const flowNamed = (model: ConsoleModel, name: string | null): ConsoleFlow | undefined =>
  model.flows.find((running) => running.flow.name === name);

/** The Runs page: every running flow's history merged, newest first, filtered and paged. */
export const runsAnswer = async (model: ConsoleModel, viewer: Viewer, query: URLSearchParams): Promise<Answer> => {
  const wanted: RunsQuery = {
    flow: query.get('flow') ?? '',
    outcome: query.get('outcome') ?? '',
    identity: query.get('identity') ?? '',
    page: Math.max(1, Math.floor(Number(query.get('page') ?? 1)) || 1),
  };
  const lists = await Promise.all(
    model.flows
      .filter(({ flow }) => wanted.flow === '' || flow.name === wanted.flow)
      .map(async ({ flow, core }) => (await core.history.list()).map((line) => ({ ...line, flow: flow.name }))),
  );
  const matching = lists
    .flat()
    .filter((line) => runMatches(wanted, line))
    .sort((a, b) => b.at.localeCompare(a.at));
  const shown = selectRuns(matching.slice((wanted.page - 1) * RUNS_PAGE), { limit: RUNS_PAGE });
  const table = runsTable(shown, wanted, matching.length);
  if (query.get('fragment') === 'table') return htmlAnswer(200, table.text);
  return htmlAnswer(
    200,
    runsPage(
      viewer,
      model.config.flows.map((flow) => flow.name),
      wanted,
      table,
    ),
  );
};
