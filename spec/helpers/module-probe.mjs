// Loaded with `node --import` (through NODE_OPTIONS) into a process a test starts: writes, one a line,
// every module the process loads into the file MODULE_PROBE_FILE names. ES modules are seen by the load
// hook (module-probe-hooks.mjs, in the loader's thread); CommonJS modules a `require` loaded (never
// seen by that hook) are read from the require cache when the process exits.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const PROBE_END = '#exit';
const file = process.env.MODULE_PROBE_FILE;
if (!file) throw new Error('module-probe: set MODULE_PROBE_FILE');
register('./module-probe-hooks.mjs', import.meta.url, { data: { file } });
// `#exit` last: a test can tell a complete list from one whose exit-time part was never written.
process.on('exit', () =>
  appendFileSync(file, `${Object.keys(createRequire(import.meta.url).cache).join('\n')}\n${PROBE_END}\n`),
);
