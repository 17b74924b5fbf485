import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import got from 'got';
import { type Browser, chromium, type Page } from 'playwright-core';
import { QualtricsStandIn } from '../../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses } from '../../helpers/cli.js';
import { API_TOKEN, updateFor } from '../../helpers/harness.js';
import { freePort } from '../../helpers/ports.js';
import { deadLetterFile, tempDir } from '../../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../../helpers/ws-server.js';

/** Debian's chromium (installed by .ci/run); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The page's DOM as the functions run in the browser see it (the specs compile without the DOM library). */
interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  closest(selector: string): PageElement | null;
}
declare const document: {
  readonly activeElement: PageElement | null;
  querySelector(selector: string): PageElement | null;
};
const ADMIN = 'admin-token-0123456789';
const VIEWER = 'viewer-token-0123456789';

describe('the console in a real browser (a real run process, chromium)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  let standIn: QualtricsStandIn;
  let feed: TestWebSocketServer;
  let browser: Browser;
  let base: string;
  let failBad = true;
  let socket: Awaited<ReturnType<TestWebSocketServer['connection']>>;

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const signIn = async (token: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/login`);
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/`);
    return page;
  };

  before(async () => {
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: (request) => (failBad && request.body.includes('bad@') ? { status: 400, body: 'bad field' } : undefined),
    });
    feed = await TestWebSocketServer.start();
    const port = await freePort();
    const destination = `{ url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, retry: { baseMs: 10, maxMs: 50 } }`;
    const file = join(tempDir(), 'config.yaml');
    writeFileSync(
      file,
      `
name: Console
source: { websocket: { url: "${feed.url}?token=WS-QUERY-SECRET" } }
state: { dir: ${tempDir()} }
observability: { port: ${port} }
access:
  tokens:
    - { name: ada, token: "\${ADMIN_TOKEN}", roles: [view, manage, activate] }
    - { name: vic, token: ${VIEWER}, roles: [view] }
flows:
  - name: nps
    destination: ${destination}
    audiences: [{ id: a1 }]
    identities: [{ source: Email, target: email }]
    deadLetters: { file: ${deadLetterFile()} }
  - name: churn
    destination: ${destination}
    audiences: [{ id: a2 }]
    identities: [{ source: Email, target: email }]
    deadLetters: { file: ${deadLetterFile()} }
`,
    );
    processes.start(['run', '--config', file], { ADMIN_TOKEN: ADMIN });
    base = `http://127.0.0.1:${port}`;
    socket = await feed.connection(1);
    // The known run: nps takes a1 (2 delivered, 1 failed: a dead letter); churn takes a2 (3 excluded).
    for (const email of ['ann@example.com', 'ben@example.com', 'bad@example.com'])
      socket.send(JSON.stringify(updateFor(email)));
    await eventually(
      async () => {
        const answer = await got(`${base}/runs`, { headers: bearer(ADMIN), throwHttpErrors: false });
        if (answer.statusCode !== 200) return false;
        // A batch's not-qualified updates are one entry with a count (churn's three may be one, two or three).
        const lines = JSON.parse(answer.body) as Array<{ count?: number }>;
        return lines.reduce((sum, line) => sum + (line.count ?? 1), 0) === 6;
      },
      20_000,
      'six outcomes in the run history',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });

  after(async () => {
    await browser?.close();
    processes.killAll();
    await feed?.close();
    await standIn?.close();
  });

  it('without a token the console answers 401, and /metrics too; /healthz stays open', async () => {
    expect((await got(`${base}/`, { throwHttpErrors: false })).statusCode).to.equal(401);
    expect((await got(`${base}/metrics`, { throwHttpErrors: false })).statusCode).to.equal(401);
    expect((await got(`${base}/runs`, { throwHttpErrors: false })).statusCode).to.equal(401);
    expect((await got(`${base}/metrics`, { headers: bearer('wrong'), throwHttpErrors: false })).statusCode).to.equal(
      401,
    );
    expect((await got(`${base}/healthz`)).statusCode).to.equal(200);
    const page = await (await browser.newContext()).newPage();
    const answer = await page.goto(`${base}/`);
    expect(answer?.status()).to.equal(401);
    expect(await page.getByLabel('Access token').isVisible()).to.equal(true);
  });

  it('after a known run, the overview shows the right counts for each flow, and the chart has points', async () => {
    const page = await signIn(ADMIN);
    const cells = async (flow: string) =>
      (await page.locator(`tr[data-flow="${flow}"] td`).allInnerTexts()).map((text) => text.trim());
    // State, destination, then received, activated, excluded, duplicates, failed for the hour (and the day).
    const nps = await cells('nps');
    expect(nps[0]).to.match(/^running/);
    expect(nps.slice(2, 7)).to.deep.equal(['3', '2', '0', '0', '1']);
    expect(nps.slice(7, 12)).to.deep.equal(['3', '2', '0', '0', '1']);
    expect((await cells('churn')).slice(2, 7)).to.deep.equal(['3', '0', '3', '0', '0']);
    await page.waitForFunction(() => (globalThis as unknown as { qaCharts: unknown[] }).qaCharts?.length === 2);
    const sums = await page.evaluate(() =>
      (globalThis as unknown as { qaCharts: Array<{ data: number[][] }> }).qaCharts.map((chart) =>
        chart.data.slice(1).map((series) => series.reduce((a, b) => a + (b ?? 0), 0)),
      ),
    );
    // Activated, excluded, failed per minute, summed over the hour: nps then churn.
    expect(sums).to.deep.equal([
      [2, 0, 1],
      [0, 3, 0],
    ]);
    expect(await page.locator('.chart canvas').count()).to.be.greaterThan(0);
    await page.setViewportSize({ width: 1440, height: 900 });
    // The README's picture: refreshed only when asked (UPDATE_SCREENSHOT=1), so a test run leaves the tree clean.
    const shot = process.env.UPDATE_SCREENSHOT ? 'docs/console-overview.png' : join(tempDir(), 'overview.png');
    expect((await page.screenshot({ path: shot, fullPage: true })).subarray(1, 4).toString()).to.equal('PNG');
  });

  it('a view token sees no redrive button, and the action answers 403 (also without the CSRF header)', async () => {
    const page = await signIn(VIEWER);
    await page.goto(`${base}/dead-letters?flow=nps`);
    await page.locator('tr[data-letter]').first().waitFor();
    expect(await page.locator('tr[data-letter]').count()).to.equal(1);
    expect(await page.getByRole('button', { name: /Redrive/ }).count()).to.equal(0);
    expect(await page.getByRole('button', { name: /Pause|Turn off/ }).count()).to.equal(0);
    const action = `${base}/api/flows/nps/dead-letters/redrive`;
    const asViewer = await got.post(action, { headers: bearer(VIEWER), json: { all: true }, throwHttpErrors: false });
    expect(asViewer.statusCode).to.equal(403);
    expect(asViewer.body).to.include('vic does not have the manage role');
    // The viewer's own session, from its page and with its valid CSRF token, is refused for the role.
    const fromPage = await page.evaluate(async (url) => {
      const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
      const answer = await fetch(url, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: '{"all":true}' });
      return { status: answer.status, text: await answer.text() };
    }, action);
    expect(fromPage.status).to.equal(403);
    expect(fromPage.text).to.include('vic does not have the manage role');
  });

  it('a session that does not send its CSRF token is refused, whatever its roles', async () => {
    const page = await signIn(ADMIN);
    const refused = await page.evaluate(async (url) => {
      const answer = await fetch(url, { method: 'POST', body: '{}' });
      return { status: answer.status, text: await answer.text() };
    }, `${base}/api/flows/nps/pause`);
    expect(refused.status).to.equal(403);
    expect(refused.text).to.include('missing or wrong x-csrf-token');
    expect((await got(`${base}/`, { headers: { ...bearer(ADMIN), accept: 'text/html' } })).body).to.include(
      'state-running">running',
    );
  });

  it('a dead letter is redriven by clicking and disappears once delivered; the history says who', async () => {
    failBad = false;
    const page = await signIn(ADMIN);
    await page.goto(`${base}/dead-letters?flow=nps`);
    await page.locator('tr[data-letter]').first().waitFor();
    expect(await page.locator('tr[data-letter]').count()).to.equal(1);
    const activated = async () => {
      const row = await got(`${base}/?fragment=flows`, { headers: { ...bearer(ADMIN), accept: 'text/html' } });
      return /<tr data-flow="nps">[\s\S]*?<\/td>[\s\S]*?<\/td>[\s\S]*?<\/td>\s*<td>(\d+)<\/td>/.exec(row.body)?.[1];
    };
    expect(await activated()).to.equal('2');
    await page.locator('tr[data-letter]').getByRole('button', { name: 'Redrive' }).click();
    await page.locator('#status', { hasText: /1 delivered/ }).waitFor();
    await page.locator('tr[data-letter]').first().waitFor({ state: 'detached' });
    expect(standIn.runs.filter((run) => JSON.stringify(run.payload).includes('bad@'))).to.have.length(1);
    const runs = JSON.parse((await got(`${base}/runs?flow=nps`, { headers: bearer(ADMIN) })).body) as Array<
      Record<string, unknown>
    >;
    expect(runs.find((line) => line.action === 'redrive')?.by).to.equal('ada');
    expect(runs.find((line) => line.outcome === 'delivered' && line.by === 'ada')).to.not.equal(undefined);
    // The redriven letter counts as the flow's: activated in the last hour went from 2 to 3.
    expect(await activated()).to.equal('3');
  });

  it('pauses and resumes a flow (manage), turns it off and on (activate), each action in the history', async () => {
    const page = await signIn(ADMIN);
    const delivered = (email: string) =>
      standIn.runs.filter((run) => JSON.stringify(run.payload).includes(email)).length;
    // The flows share one plain WebSocket feed: the confirmation says pausing nps holds churn too.
    const asked: string[] = [];
    page.once('dialog', (dialog) => {
      asked.push(dialog.message());
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Pause nps' }).click();
    await page.locator('tr[data-flow="nps"] .state', { hasText: 'paused' }).waitFor();
    expect(asked[0]).to.include('share one WebSocket feed without a journal: this also holds churn');
    // Focus stays on the acted-on control: Pause became Resume, in its place.
    expect(await page.evaluate(() => document.activeElement?.textContent)).to.equal('Resume nps');
    // churn is held by the shared feed, not running.
    await page.locator('tr[data-flow="churn"] .state', { hasText: 'held' }).waitFor();
    expect(await page.locator('tr[data-flow="churn"] small').first().textContent()).to.equal(
      'held: the shared feed is paused by nps',
    );
    // The intake really stopped: an update sent now is not delivered while paused...
    socket.send(JSON.stringify(updateFor('paused@example.com')));
    const marker = await page.evaluate(() => {
      document.querySelector('table.flows')?.setAttribute('data-seen', '');
      return true;
    });
    expect(marker).to.equal(true);
    for (let refreshes = 0; refreshes < 2; refreshes += 1) {
      await page.waitForFunction(() => document.querySelector('table.flows[data-seen]') === null);
      await page.evaluate(() => document.querySelector('table.flows')?.setAttribute('data-seen', ''));
    }
    expect(delivered('paused@')).to.equal(0);
    // ...and is delivered once resumed.
    await page.getByRole('button', { name: 'Resume nps' }).click();
    await page.locator('tr[data-flow="nps"] .state', { hasText: 'running' }).waitFor();
    await eventually(async () => delivered('paused@') === 1, 20_000, 'the update sent while paused, delivered');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Turn off churn' }).click();
    await page.locator('tr[data-flow="churn"] .state', { hasText: 'disabled' }).waitFor();
    await page.getByRole('button', { name: 'Turn on churn' }).click();
    await page.locator('tr[data-flow="churn"] .state', { hasText: 'running' }).waitFor();
    const runs = JSON.parse((await got(`${base}/runs`, { headers: bearer(ADMIN) })).body) as Array<
      Record<string, unknown>
    >;
    const actions = runs.filter((line) => line.action !== undefined && line.by === 'ada').map((line) => line.action);
    expect(actions).to.include.members(['pause', 'resume', 'disable', 'enable']);
  });

  it('refuses a redrive while the flow is paused or turned off (409), and says why', async () => {
    const redrive = () =>
      got.post(`${base}/api/flows/nps/dead-letters/redrive`, {
        headers: bearer(ADMIN),
        json: { all: true },
        throwHttpErrors: false,
      });
    await got.post(`${base}/api/flows/nps/pause`, { headers: bearer(ADMIN) });
    try {
      const paused = await redrive();
      expect(paused.statusCode).to.equal(409);
      expect(paused.body).to.include('flow nps is paused by ada: resume it (or turn it on) before redriving');
    } finally {
      await got.post(`${base}/api/flows/nps/resume`, { headers: bearer(ADMIN) });
    }
    await got.post(`${base}/api/flows/nps/disable`, { headers: bearer(ADMIN) });
    try {
      const off = await redrive();
      expect(off.statusCode).to.equal(409);
      expect(off.body).to.include('flow nps is turned off by ada');
    } finally {
      await got.post(`${base}/api/flows/nps/enable`, { headers: bearer(ADMIN) });
    }
    expect((await redrive()).statusCode).to.equal(200);
  });

  it('a refresh keeps the keyboard focus on the same button', async () => {
    const page = await signIn(ADMIN);
    await page.getByRole('button', { name: 'Pause churn' }).focus();
    await page.evaluate(() => document.querySelector('table.flows')?.setAttribute('data-seen', ''));
    // The live region is re-rendered (its table is a new one) while it holds the focus...
    await page.waitForFunction(() => document.querySelector('table.flows[data-seen]') === null);
    // ...and the focus is on the new Pause churn button.
    expect(
      await page.evaluate(() => [
        document.activeElement?.getAttribute('data-action'),
        document.activeElement?.closest('table.flows') !== null,
      ]),
    ).to.deep.equal(['/api/flows/churn/pause', true]);
  });

  it('a page whose session ended says so in its status line', async () => {
    const page = await signIn(ADMIN);
    // Signed out elsewhere (the session is gone on the server): the next refresh answers 401.
    await page.evaluate(async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
      await fetch('/logout', { method: 'POST', headers: { 'x-csrf-token': csrf } });
    });
    await page.locator('#status', { hasText: 'signed out: sign in again' }).waitFor();
  });

  it('answers 404 with the flow name from the URL escaped, under a CSP that allows no other form target', async () => {
    const answer = await got(`${base}/flows/${encodeURIComponent('<form action="https://evil.example">')}`, {
      headers: { ...bearer(ADMIN), accept: 'text/html' },
      throwHttpErrors: false,
    });
    expect(answer.statusCode).to.equal(404);
    expect(answer.body).to.include('no running flow &lt;form action=&quot;https://evil.example&quot;&gt;');
    expect(answer.body).to.not.include('<form');
    const letters = await got(`${base}/dead-letters?flow=${encodeURIComponent('<form>')}`, {
      headers: bearer(ADMIN),
      throwHttpErrors: false,
    });
    expect(letters.statusCode).to.equal(404);
    expect(letters.body).to.not.include('<form');
    expect(answer.headers['content-security-policy']).to.include("form-action 'self'; base-uri 'none'");
  });

  it('answers bad requests with 4xx, not 500: inherited asset names, malformed escapes, oversized bodies', async () => {
    for (const name of ['constructor', 'toString', '__proto__'])
      expect((await got(`${base}/assets/${name}`, { throwHttpErrors: false })).statusCode, name).to.equal(404);
    const malformed = await got(`${base}/flows/%E0`, { headers: bearer(ADMIN), throwHttpErrors: false });
    expect(malformed.statusCode).to.equal(400);
    const action = await got.post(`${base}/api/flows/%E0/pause`, { headers: bearer(ADMIN), throwHttpErrors: false });
    expect(action.statusCode).to.equal(400);
    // Over 64 KB: 413, and the server closes the connection rather than read the rest.
    const { status, closed } = await new Promise<{ status: number | undefined; closed: boolean }>((resolve, reject) => {
      const url = new URL(`${base}/api/flows/nps/dead-letters/discard`);
      const sent = httpRequest(url, {
        method: 'POST',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json' },
      });
      sent.on('response', (response) => {
        response.resume();
        response.on('end', () =>
          resolve({ status: response.statusCode, closed: response.headers.connection === 'close' }),
        );
      });
      sent.on('error', reject);
      sent.write(`{"ids":["${'x'.repeat(70 * 1024)}`);
    });
    expect(status).to.equal(413);
    expect(closed).to.equal(true);
  });

  it('slows down repeated failed sign-ins from one address (429), and not other addresses', async () => {
    // From 127.0.0.2: another remote address for the server, so the other tests' sign-ins are untouched.
    const attempt = (token: string) =>
      got.post(`${base}/login`, {
        form: { token },
        localAddress: '127.0.0.2',
        followRedirect: false,
        throwHttpErrors: false,
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await attempt(`wrong-${i}`)).statusCode);
    const throttled = await attempt(ADMIN);
    expect(statuses).to.deep.equal([401, 401, 401, 401, 401]);
    expect(throttled.statusCode).to.equal(429);
    expect(Number(throttled.headers['retry-after'])).to.be.greaterThan(0);
    expect(throttled.body).to.include('Too many failed sign-ins');
    const elsewhere = await got.post(`${base}/login`, { form: { token: ADMIN }, followRedirect: false });
    expect(elsewhere.statusCode).to.equal(303);
  });

  it('the Config page shows no secret from the config', async () => {
    const body = (await got(`${base}/config`, { headers: { ...bearer(ADMIN), accept: 'text/html' } })).body;
    expect(body).to.not.include('WS-QUERY-SECRET');
    expect(body).to.not.include(VIEWER);
    expect(body).to.include('?[redacted]');
  });

  it('the console and its assets load with no network beyond the process itself', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: bearer(ADMIN) });
    const elsewhere: string[] = [];
    await context.route('**/*', (route) => {
      if (new URL(route.request().url()).origin === base) return route.continue();
      elsewhere.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    for (const path of ['/', '/flows/nps', '/runs', '/dead-letters', '/config']) {
      const answer = await page.goto(`${base}${path}`);
      expect(answer?.status(), path).to.equal(200);
    }
    await page.goto(`${base}/`);
    await page.waitForFunction(() => typeof (globalThis as unknown as { uPlot?: unknown }).uPlot === 'function');
    await page.locator('.chart canvas').first().waitFor();
    expect(elsewhere).to.deep.equal([]);
  });
});
