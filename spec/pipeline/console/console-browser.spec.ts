import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
source: { websocket: { url: "${feed.url}" } }
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
    const socket = await feed.connection(1);
    // The known run: nps takes a1 (2 delivered, 1 failed: a dead letter); churn takes a2 (3 excluded).
    for (const email of ['ann@example.com', 'ben@example.com', 'bad@example.com'])
      socket.send(JSON.stringify(updateFor(email)));
    await eventually(
      async () => {
        const answer = await got(`${base}/runs`, { headers: bearer(ADMIN), throwHttpErrors: false });
        return answer.statusCode === 200 && (JSON.parse(answer.body) as unknown[]).length === 6;
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
    // The viewer's own session, from its page, is refused too.
    const fromPage = await page.evaluate(
      async (url) => (await fetch(url, { method: 'POST', body: '{"all":true}' })).status,
      action,
    );
    expect(fromPage).to.equal(403);
  });

  it('a dead letter is redriven by clicking and disappears once delivered; the history says who', async () => {
    failBad = false;
    const page = await signIn(ADMIN);
    await page.goto(`${base}/dead-letters?flow=nps`);
    await page.locator('tr[data-letter]').first().waitFor();
    expect(await page.locator('tr[data-letter]').count()).to.equal(1);
    await page.locator('tr[data-letter]').getByRole('button', { name: 'Redrive' }).click();
    await page.locator('#status', { hasText: /1 delivered/ }).waitFor();
    await page.locator('tr[data-letter]').first().waitFor({ state: 'detached' });
    expect(standIn.runs.filter((run) => JSON.stringify(run.payload).includes('bad@'))).to.have.length(1);
    const runs = JSON.parse((await got(`${base}/runs?flow=nps`, { headers: bearer(ADMIN) })).body) as Array<
      Record<string, unknown>
    >;
    expect(runs.find((line) => line.action === 'redrive')?.by).to.equal('ada');
    expect(runs.find((line) => line.outcome === 'delivered' && line.by === 'ada')).to.not.equal(undefined);
  });

  it('pauses and resumes a flow (manage), turns it off and on (activate), each action in the history', async () => {
    const page = await signIn(ADMIN);
    await page.getByRole('button', { name: 'Pause nps' }).click();
    await page.locator('tr[data-flow="nps"] .state', { hasText: 'paused' }).waitFor();
    await page.getByRole('button', { name: 'Resume nps' }).click();
    await page.locator('tr[data-flow="nps"] .state', { hasText: 'running' }).waitFor();
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
