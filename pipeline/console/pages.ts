import type { Role } from '../config/access.js';
import type { Letter } from '../commands/dlq.js';
import type { HistoryLine } from '../history.js';
import { isRun } from '../history.js';
import { maskEmail } from '../mask.js';
import type { Caller } from './access-gate.js';
import type { FlowSummary } from './console-data.js';
import type { ConsoleFlow } from './console-flows.js';
import { Html, html } from './html.js';
import { redactConfig } from './redact.js';
import type { MinuteTally } from './minute-counts.js';

/** What every page is drawn for: who is looking, and whether the console is open (no `access`). */
export interface Viewer {
  readonly caller: Caller;
  readonly open: boolean;
}

const can = (viewer: Viewer, role: Role): boolean => viewer.caller.principal.roles.has(role);

const NAV = [
  ['/', 'Overview'],
  ['/runs', 'Runs'],
  ['/dead-letters', 'Dead letters'],
  ['/config', 'Config'],
] as const;

const head = (title: string, csrf?: string): Html => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · qualtrics-automations</title>
${csrf === undefined ? '' : html`<meta name="csrf-token" content="${csrf}">`}
<link rel="stylesheet" href="/assets/uPlot.min.css"><link rel="stylesheet" href="/assets/console.css">
<script src="/assets/uPlot.iife.min.js" defer></script><script src="/assets/console.js" defer></script>
</head>`;

/** The frame of every page: navigation, who is signed in, the status line actions report to. */
export const page = (viewer: Viewer, title: string, path: string, body: Html): string =>
  html`${head(title, viewer.caller.csrf)}<body>
<a class="skip" href="#main">Skip to the content</a>
<header><nav aria-label="Console"><span class="brand">qualtrics-automations</span>
${NAV.map(([href, label]) => html`<a href="${href}"${path === href ? new Html(' aria-current="page"') : ''}>${label}</a>`)}
</nav><div class="who">${
    viewer.open
      ? 'No access configured: served on loopback only, anyone on this machine may act'
      : html`Signed in as <strong>${viewer.caller.principal.name}</strong> (${[...viewer.caller.principal.roles].join(', ')})
${viewer.caller.csrf === undefined ? '' : html` <button type="button" data-action="/logout" data-then="/login">Sign out</button>`}`
  }</div></header>
${viewer.open ? html`<p class="notice" role="note">This console has no <code>access</code> section in its config, so it listens only on a loopback address. Add tokens with roles to open it to others.</p>` : ''}
<p id="status" role="status" aria-live="polite"></p>
<main id="main" tabindex="-1"><h1>${title}</h1>
${body}</main></body></html>`.text;

export const loginPage = (error?: string): string =>
  html`${head('Sign in')}<body><main id="main" class="login"><h1>Sign in</h1>
${error === undefined ? '' : html`<p class="error" role="alert">${error}</p>`}
<form method="post" action="/login">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form></main></body></html>`.text;

const tallyCells = (t: MinuteTally): Html =>
  html`<td>${t.received}</td><td>${t.delivered}</td><td>${t.excluded}</td><td>${t.duplicate}</td><td>${t.failed}</td>`;

const flowButtons = (viewer: Viewer, summary: FlowSummary): Html => {
  const { running, state, name } = summary;
  if (!running) return html``;
  const base = `/api/flows/${encodeURIComponent(name)}`;
  const paused = running.core.valve.reasons.has('paused');
  const disabled = state.kind === 'disabled';
  // Without a journal the flows read one WebSocket feed: holding one flow's intake holds the feed for all.
  const shared =
    summary.feedSharedWith.length === 0
      ? ''
      : ` The flows share one WebSocket feed without a journal: this also holds ${summary.feedSharedWith.join(', ')} until ${name} takes input again.`;
  return html`${
    can(viewer, 'manage')
      ? paused
        ? html`<button type="button" data-action="${base}/resume">Resume ${name}</button>`
        : html`<button type="button" data-action="${base}/pause"${shared === '' ? '' : html` data-confirm="Pause ${name}?${shared}"`}>Pause ${name}</button>`
      : ''
  }${
    can(viewer, 'activate')
      ? disabled
        ? html`<button type="button" data-action="${base}/enable">Turn on ${name}</button>`
        : html`<button type="button" data-action="${base}/disable" data-confirm="Turn off ${name}? Its updates will wait in the source.${shared}">Turn off ${name}</button>`
      : ''
  }`;
};

/** The overview's live part: one row per flow, with its counts for the last hour and day. */
export const overviewFlows = (viewer: Viewer, summaries: readonly FlowSummary[]): Html => html`
<table class="flows"><caption>Flows: counts for the last hour and the last 24 hours (since the process started, if later)</caption>
<thead><tr><th scope="col" rowspan="2">Flow</th><th scope="col" rowspan="2">State</th><th scope="col" rowspan="2">Destination</th>
<th scope="colgroup" colspan="5">Last hour</th><th scope="colgroup" colspan="5">Last 24 hours</th>
<th scope="col" rowspan="2">Rate limit (its group, last 60 s)</th><th scope="col" rowspan="2">Alerts firing</th><th scope="col" rowspan="2">Actions</th></tr>
<tr>${[1, 2].map(() => html`<th scope="col">Received</th><th scope="col">Activated</th><th scope="col">Excluded</th><th scope="col">Duplicates</th><th scope="col">Failed</th>`)}</tr></thead>
<tbody>${summaries.map(
  (
    s,
  ) => html`<tr data-flow="${s.name}"><th scope="row"><a href="/flows/${encodeURIComponent(s.name)}">${s.name}</a></th>
<td><span class="state state-${s.state.kind}">${s.state.kind}</span><br><small>${s.state.detail}</small></td><td>${s.host}</td>
${tallyCells(s.lastHour)}${tallyCells(s.lastDay)}
<td>${s.rate.used} / ${s.rate.perMinute}<br><small>group ${s.rate.group}</small></td>
<td>${s.alerts.length === 0 ? 'none' : html`<span class="alert">${s.alerts.join(', ')}</span>`}</td>
<td class="actions">${flowButtons(viewer, s)}</td></tr>`,
)}</tbody></table>`;

const chartOf = (running: ConsoleFlow, minutes: number): Html => html`<figure class="chart-box">
<figcaption>${running.flow.name}: activated, excluded and failed per minute, last ${minutes === 60 ? 'hour' : '24 hours'}</figcaption>
<div class="chart" role="img" aria-label="Chart of activated, excluded and failed updates per minute for ${running.flow.name}" data-series="/api/series?flow=${encodeURIComponent(running.flow.name)}&amp;minutes=${minutes}"></div></figure>`;

export const overviewPage = (viewer: Viewer, summaries: readonly FlowSummary[], flows: readonly ConsoleFlow[]) =>
  page(
    viewer,
    'Overview',
    '/',
    html`<section data-live="/?fragment=flows" aria-label="Flows">${overviewFlows(viewer, summaries)}</section>
<section class="charts" aria-label="Charts">${flows.map((running) => chartOf(running, 60))}</section>`,
  );

const reasonsTable = (caption: string, counts: Readonly<Record<string, number>>): Html =>
  html`<table><caption>${caption}</caption><thead><tr><th scope="col">Reason</th><th scope="col">Count</th></tr></thead>
<tbody>${
    Object.keys(counts).length === 0
      ? html`<tr><td colspan="2">none</td></tr>`
      : Object.entries(counts).map(([reason, n]) => html`<tr><td>${reason}</td><td>${n}</td></tr>`)
  }</tbody></table>`;

export interface FlowDetail {
  readonly summary: FlowSummary;
  readonly running: ConsoleFlow;
  readonly latency: ReadonlyArray<{ readonly upTo: string; readonly count: number }>;
  readonly backlog: { readonly inFlight: number; readonly pending: number | undefined; readonly deadLetters: number };
}

/** The flow page's live part. */
export const flowDetail = (viewer: Viewer, d: FlowDetail): Html => {
  const counts = d.running.ledger.counts();
  const { summary } = d;
  return html`<p><span class="state state-${summary.state.kind}">${summary.state.kind}</span> ${summary.state.detail} ${flowButtons(viewer, summary)}</p>
<div class="grid">
${reasonsTable('Excluded by reason (since start)', counts.excluded)}
${reasonsTable('Failed by reason (since start)', counts.failed)}
<table><caption>Request latency (since start)</caption><thead><tr><th scope="col">Answered in</th><th scope="col">Requests</th></tr></thead>
<tbody>${d.latency.map((b) => html`<tr><td>${b.upTo}</td><td>${b.count}</td></tr>`)}</tbody></table>
<table><caption>Retries and backlog</caption><tbody>
<tr><th scope="row">Retries, last hour</th><td>${summary.lastHour.retries}</td></tr>
<tr><th scope="row">Retries, last 24 hours</th><td>${summary.lastDay.retries}</td></tr>
<tr><th scope="row">In flight</th><td>${d.backlog.inFlight}</td></tr>
<tr><th scope="row">Pending in the stream</th><td>${d.backlog.pending ?? 'n/a (no stream)'}</td></tr>
<tr><th scope="row">Dead letters</th><td><a href="/dead-letters?flow=${encodeURIComponent(summary.name)}">${d.backlog.deadLetters}</a></td></tr>
</tbody></table>
<table><caption>Recent alerts</caption><thead><tr><th scope="col">Time</th><th scope="col">Alert</th><th scope="col">State</th><th scope="col">Summary</th></tr></thead>
<tbody>${
    d.running.recentAlerts.length === 0
      ? html`<tr><td colspan="4">none</td></tr>`
      : d.running.recentAlerts.map(
          (a) => html`<tr><td>${a.at}</td><td>${a.alert}</td><td>${a.state}</td><td>${a.summary}</td></tr>`,
        )
  }</tbody></table></div>`;
};

export const flowPage = (viewer: Viewer, d: FlowDetail): string =>
  page(
    viewer,
    `Flow ${d.summary.name}`,
    `/flows/${d.summary.name}`,
    html`<section data-live="/flows/${encodeURIComponent(d.summary.name)}?fragment=detail" aria-label="Flow">${flowDetail(viewer, d)}</section>
${chartOf(d.running, 24 * 60)}`,
  );

const select = (id: string, label: string, name: string, options: readonly string[], chosen: string): Html =>
  html`<label for="${id}">${label}</label><select id="${id}" name="${name}">${options.map(
    (option) =>
      html`<option value="${option}"${option === chosen ? new Html(' selected') : ''}>${option || 'all'}</option>`,
  )}</select>`;

export interface RunsQuery {
  readonly flow: string;
  readonly outcome: string;
  readonly identity: string;
  readonly page: number;
}

export const RUNS_PAGE = 50;

/** Whether a history line passes the Runs page's filters (identity search on the masked identity). */
export const runMatches = (query: RunsQuery, line: HistoryLine): boolean => {
  if (query.outcome === 'action') return !isRun(line);
  if (query.outcome !== '' && (!isRun(line) || line.outcome !== query.outcome)) return false;
  if (query.identity === '') return true;
  if (!isRun(line)) return false;
  // The history keeps identities masked: a full email is masked the same way, anything else is a part of it.
  const wanted = query.identity.includes('@') ? maskEmail(query.identity.trim()) : query.identity.trim();
  return (line.identity ?? '').toLowerCase().includes(wanted.toLowerCase());
};

export const runsTable = (lines: ReadonlyArray<HistoryLine & { flow: string }>, query: RunsQuery, total: number) => {
  const link = (pageNumber: number) =>
    `/runs?${new URLSearchParams({ flow: query.flow, outcome: query.outcome, identity: query.identity, page: String(pageNumber) })}`;
  const pages = Math.max(1, Math.ceil(total / RUNS_PAGE));
  return html`<table class="runs"><caption>${total} entr${total === 1 ? 'y' : 'ies'}, newest first (page ${query.page} of ${pages})</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Flow</th><th scope="col">Identity</th><th scope="col">Outcome</th><th scope="col">Reason</th>
<th scope="col">HTTP</th><th scope="col">Attempts</th><th scope="col">Latency</th></tr></thead><tbody>${lines.map(
    (line) =>
      isRun(line)
        ? html`<tr class="outcome-${line.outcome}"><td>${line.at}</td><td>${line.flow}</td><td>${line.identity ?? ''}</td><td>${line.outcome}</td>
<td>${line.reason ?? ''}${line.count === undefined ? '' : ` (×${line.count} in one batch, the last shown)`}${'by' in line ? ` (redriven by ${String(line.by)})` : ''}</td><td>${line.httpStatus ?? ''}</td><td>${line.attempts ?? ''}</td>
<td>${line.latencyMs === undefined ? '' : `${line.latencyMs} ms`}</td></tr>`
        : html`<tr class="action"><td>${line.at}</td><td>${line.flow}</td><td></td><td>action: ${line.action}</td><td colspan="4">${line.detail} (by ${line.by})</td></tr>`,
  )}</tbody></table>
<nav aria-label="Pages" class="pager">${query.page > 1 ? html`<a href="${link(query.page - 1)}" rel="prev">Newer</a>` : ''}
${query.page < pages ? html`<a href="${link(query.page + 1)}" rel="next">Older</a>` : ''}</nav>`;
};

export const runsPage = (viewer: Viewer, flows: readonly string[], query: RunsQuery, table: Html): string =>
  page(
    viewer,
    'Runs',
    '/runs',
    html`<form method="get" action="/runs" class="filters">
${select('runs-flow', 'Flow', 'flow', ['', ...flows], query.flow)}
${select('runs-outcome', 'Outcome', 'outcome', ['', 'delivered', 'excluded', 'duplicate', 'failed', 'action'], query.outcome)}
<label for="runs-identity">Identity</label><input id="runs-identity" name="identity" type="search" value="${query.identity}" placeholder="ann@example.com">
<button type="submit">Filter</button></form>
<section ${query.page === 1 ? new Html(`data-live="/runs?${new URLSearchParams({ flow: query.flow, outcome: query.outcome, identity: query.identity, fragment: 'table' })}"`) : ''} aria-label="Run history">${table}</section>`,
  );

const maskedKey = (key: string | undefined): string =>
  key?.startsWith('email:') ? `email:${maskEmail(key.slice('email:'.length))}` : (key ?? '');

/** The dead letters of one flow, with what may be done to them by this viewer. */
export const lettersTable = (
  viewer: Viewer,
  flow: string,
  entries: ReadonlyArray<{ readonly id: string; readonly letter: unknown }>,
): Html => {
  const manage = can(viewer, 'manage');
  const base = `/api/flows/${encodeURIComponent(flow)}/dead-letters`;
  const byReason = new Map<string, number>();
  for (const { letter } of entries) {
    const reason = (letter as Letter | undefined)?.reason ?? '?';
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
  return html`<p>${entries.length} dead letter(s) in ${flow}.</p>
${
  manage && entries.length > 0
    ? html`<div class="bulk" role="group" aria-label="Act on dead letters">
<button type="button" data-action="${base}/redrive" data-selected="letter">Redrive selected</button>
<button type="button" data-action="${base}/discard" data-selected="letter" data-confirm="Discard the selected dead letters? They will not be sent.">Discard selected</button>
${[...byReason].map(
  ([
    reason,
    n,
  ]) => html`<button type="button" data-action="${base}/redrive" data-body="${JSON.stringify({ reason })}">Redrive all ${n} ${reason}</button>
<button type="button" data-action="${base}/discard" data-body="${JSON.stringify({ reason })}" data-confirm="Discard all ${n} dead letters of ${reason}?">Discard all ${n} ${reason}</button>`,
)}</div>`
    : ''
}
<table class="letters"><caption>Dead letters of ${flow}, oldest first</caption><thead><tr>${manage ? html`<th scope="col">Select</th>` : ''}
<th scope="col">Time</th><th scope="col">Reason</th><th scope="col">HTTP</th><th scope="col">Attempts</th><th scope="col">Identity</th>
<th scope="col">Destination's answer</th><th scope="col">Payload</th>${manage ? html`<th scope="col">Actions</th>` : ''}</tr></thead>
<tbody>${entries.map(({ id, letter }) => {
    const l = (letter ?? {}) as Letter & { payload?: unknown };
    return html`<tr data-letter="${id}">${manage ? html`<td><input type="checkbox" name="letter" value="${id}" id="letter-${id}" aria-label="Select letter ${id}"></td>` : ''}
<td>${l.at ?? ''}</td><td>${l.reason ?? 'unreadable'}</td><td>${l.status ?? ''}</td><td>${l.attempts ?? ''}</td><td>${maskedKey(l.identity)}</td>
<td class="answer">${l.response ?? ''}</td><td><details><summary>Payload</summary><pre>${JSON.stringify(l.payload ?? letter, null, 2)}</pre></details></td>
${manage ? html`<td><button type="button" data-action="${base}/redrive" data-body="${JSON.stringify({ ids: [id] })}" aria-label="Redrive letter ${id}">Redrive</button></td>` : ''}</tr>`;
  })}</tbody></table>`;
};

export const deadLettersPage = (viewer: Viewer, flows: readonly string[], flow: string, table: Html): string =>
  page(
    viewer,
    'Dead letters',
    '/dead-letters',
    html`<form method="get" action="/dead-letters" class="filters">${select('letters-flow', 'Flow', 'flow', flows, flow)}<button type="submit">Show</button></form>
<section data-live="/dead-letters?flow=${encodeURIComponent(flow)}&amp;fragment=table" aria-label="Dead letters">${table}</section>`,
  );

export const configPage = (viewer: Viewer, effective: unknown): string =>
  page(
    viewer,
    'Config',
    '/config',
    html`<p>The effective config, with defaults filled in and every secret shown as <code>[redacted]</code>: tokens, the alert webhook, plug-in options, and the credentials and query of every URL.</p>
<pre class="config" tabindex="0" aria-label="Effective config">${JSON.stringify(redactConfig(effective), null, 2)}</pre>`,
  );
