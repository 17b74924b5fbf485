// The load hook of module-probe.mjs: runs in Node's loader thread, so it writes each URL itself.
import { appendFileSync } from 'node:fs';

let file;
export const initialize = (data) => {
  file = data.file;
};
export const load = (url, context, next) => {
  appendFileSync(file, `${url}\n`);
  return next(url, context);
};
