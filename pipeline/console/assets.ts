import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * The console's own script: a few dozen lines, no framework, no build step. It keeps live regions
 * (`data-live`) fresh every 3 s, draws the per-minute charts with uPlot (`data-series`), and sends the
 * buttons' actions (`data-action`) with the page's CSRF token, reporting the answer in the status line.
 * A region is refreshed even while it holds the keyboard focus or a ticked checkbox: the focused button
 * (by its action) and the ticked boxes are put back, so refreshing never takes a person's place or
 * selection away. The next refresh waits for the last; a 401 says the session ended.
 */
const SCRIPT = `'use strict';
(() => {
  const REFRESH_MS = 3000;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const status = document.getElementById('status');
  const say = (text, error) => {
    if (!status) return;
    status.textContent = text;
    status.className = error ? 'error' : '';
  };
  /** A 401 while polling or acting: the session ended (expired, signed out elsewhere). */
  class SignedOut extends Error {}
  const checked = (answer) => {
    if (answer.status === 401) throw new SignedOut('signed out: sign in again');
    return answer;
  };
  /** What names a button across a re-render: its action and its body (one Redrive per letter). */
  const keyOf = (element) =>
    element?.matches?.('button[data-action]') ? element.dataset.action + '|' + (element.dataset.body ?? '') : undefined;
  /** The button to give the focus back to after the next re-render (the one just clicked, now disabled). */
  let refocus;
  const refreshRegions = async () => {
    for (const region of document.querySelectorAll('[data-live]')) {
      const answer = checked(await fetch(region.dataset.live, { headers: { accept: 'text/html' } }));
      if (!answer.ok) continue;
      if (answer.status === 401) return say('signed out: sign in again', true);
      const text = await answer.text();
      // Refreshed even while it holds the focus or a selection: both are put back on the new content.
      const focused = region.contains(document.activeElement) ? document.activeElement : undefined;
      const key = (refocus && region.contains(refocus.button) ? refocus.key : undefined) ?? keyOf(focused);
      const buttons = [...region.querySelectorAll('button[data-action]')];
      const index = buttons.findIndex((button) => keyOf(button) === key);
      const ticked = new Set([...region.querySelectorAll('input:checked')].map((box) => box.id));
      region.innerHTML = text;
      for (const id of ticked) {
        const box = id && document.getElementById(id);
        if (box && region.contains(box)) box.checked = true;
      }
      if (key === undefined) continue;
      const now = [...region.querySelectorAll('button[data-action]')];
      // The same button, or (its action changed: Pause became Resume) the one in its place.
      (now.find((button) => keyOf(button) === key) ?? (index >= 0 ? now[index] : undefined))?.focus();
      refocus = undefined;
    }
  };
  window.qaCharts = [];
  const colors = { activated: '#1a7f37', excluded: '#9a6700', failed: '#cf222e' };
  const drawCharts = async () => {
    for (const box of document.querySelectorAll('[data-series]')) {
      const answer = checked(await fetch(box.dataset.series));
      if (!answer.ok) continue;
      const s = await answer.json();
      const data = [s.time, s.activated, s.excluded, s.failed];
      if (box.chart) {
        box.chart.setData(data);
        continue;
      }
      if (typeof uPlot === 'undefined') continue;
      const width = Math.max(320, Math.min(box.clientWidth || 640, 1100));
      box.chart = new uPlot({
        width,
        height: 200,
        series: [{}, ...['activated', 'excluded', 'failed'].map((label) => ({ label, stroke: colors[label], width: 2, points: { show: true, size: 4 } }))],
        axes: [{}, { label: 'per minute' }],
      }, data, box);
      window.qaCharts.push(box.chart);
    }
  };
  /** One refresh at a time: a tick asked for while one runs waits for it, then refreshes again. */
  let running;
  const refresh = async () => {
    try {
      await refreshRegions();
      await drawCharts();
    } catch (error) {
      say(error instanceof SignedOut ? error.message : 'Could not refresh: ' + error.message, true);
    }
  };
  const tick = async () => {
    while (running) await running;
    running = refresh().finally(() => {
      running = undefined;
    });
    return running;
  };
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    let body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
    if (button.dataset.selected) {
      const ids = [...document.querySelectorAll('input[name="' + button.dataset.selected + '"]:checked')].map((box) => box.value);
      if (ids.length === 0) return say('Select at least one letter first.', true);
      body = { ids };
    }
    refocus = { key: keyOf(button), button };
    button.disabled = true;
    say('Working…');
    try {
      const answer = await fetch(button.dataset.action, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify(body),
      });
      if (answer.status === 401) return say('signed out: sign in again', true);
      const text = await answer.text();
      let message = text;
      try { message = JSON.parse(text).message ?? JSON.parse(text).error ?? text; } catch {}
      if (!answer.ok) return say(message, true);
      if (button.dataset.then) return window.location.assign(button.dataset.then);
      say(message);
      for (const box of document.querySelectorAll('input:checked')) box.checked = false;
      button.disabled = false;
      button.focus();
      await tick();
    } finally {
      button.disabled = false;
      // Disabling the button took the focus away: a failed action gives it back to the same button.
      if (button.isConnected && document.activeElement === document.body) button.focus();
      refocus = undefined;
    }
  });
  // The next refresh is scheduled once this one finished: a slow server never gets them piled up.
  const poll = async () => {
    await tick();
    setTimeout(poll, REFRESH_MS);
  };
  void poll();
})();
`;

/** Laptop-sized, high-contrast (text at least 4.5:1), visible focus. */
const STYLE = `
:root { color-scheme: light; --fg: #1f2328; --muted: #57606a; --line: #d0d7de; --accent: #0550ae; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: 1rem;
  padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: #f6f8fa; }
nav a { margin-right: 1rem; color: var(--accent); }
nav a[aria-current="page"] { font-weight: 700; color: var(--fg); }
.brand { font-weight: 700; margin-right: 1.5rem; }
main { padding: 1rem; max-width: 1400px; }
main:focus { outline: none; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
table { border-collapse: collapse; margin: 0 0 1.5rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
small { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
.state { font-weight: 700; }
.state-running { color: #1a7f37; } .state-paused, .state-held { color: #9a6700; } .state-disabled { color: #cf222e; }
.alert { color: #cf222e; font-weight: 600; }
.notice { margin: .5rem 1rem; padding: .5rem 1rem; background: #fff8c5; border: 1px solid #d4a72c; }
#status { margin: .5rem 1rem; min-height: 1.4em; }
.error { color: #cf222e; font-weight: 600; }
button { font: inherit; padding: .25rem .7rem; margin: 0 .3rem .3rem 0; border: 1px solid #1f2328; border-radius: 4px;
  background: #fff; color: var(--fg); cursor: pointer; }
button:hover { background: #f3f4f6; }
:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
label { margin: 0 .3rem 0 .8rem; }
.filters { margin-bottom: 1rem; }
input, select { font: inherit; padding: .2rem .4rem; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .3rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
.chart-box { margin: 0; } figcaption { font-weight: 600; margin-bottom: .3rem; }
.answer { max-width: 24rem; overflow-wrap: anywhere; }
pre { margin: 0; white-space: pre-wrap; max-width: 40rem; }
pre.config { max-width: none; background: #f6f8fa; padding: 1rem; border: 1px solid var(--line); }
.login { max-width: 24rem; margin: 4rem auto; }
.login input { display: block; width: 100%; margin: .3rem 0 1rem; }
.login label { margin: 0; }
`;

const require = createRequire(import.meta.url);

/**
 * uPlot's files, served from the installed package (a dependency, so they ship with the program; no CDN).
 * uPlot: about 50 KB, no dependencies, draws thousands of points on a canvas; one maintainer, steady releases.
 */
const UPLOT_FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  'uPlot.iife.min.js': { file: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/** A console asset by its name under `/assets/`, or undefined. */
export const assetOf = async (
  name: string,
): Promise<{ readonly type: string; readonly body: string | Buffer } | undefined> => {
  if (name === 'console.js') return { type: 'text/javascript; charset=utf-8', body: SCRIPT };
  if (name === 'console.css') return { type: 'text/css; charset=utf-8', body: STYLE };
  // Own names only: `constructor` or `toString` are not files.
  const vendored = Object.hasOwn(UPLOT_FILES, name) ? UPLOT_FILES[name] : undefined;
  return vendored && { type: vendored.type, body: await readFile(require.resolve(vendored.file)) };
};
