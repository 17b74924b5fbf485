import { expect } from 'chai';
import { createServer, type Server } from 'node:net';
import { checkExit, checkStructuredLogs, Musts } from './helpers/checker.js';
import { FaultRun, LEVEL } from './helpers/fault-run.js';
import { distinctUpdates } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { until } from './helpers/waits.js';
import { freePort } from '../helpers/ports.js';

/*
 * Issue #8, point 2: a taken port stops the start. Observed: with the observability port taken the
 * pipeline ran and delivered with no health or metrics. Must: every server binds before any input is
 * taken; a taken port is an error naming the config key, and the process exits non-zero.
 */

/** Holds a port on 127.0.0.1 the way another program would. */
const holdPort = async (): Promise<{ port: number; server: Server }> => {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, server };
};

describe('fault: a taken port (issue #8 point 2)', () => {
  const s = scenario();

  const title =
    'observability port taken: exits non-zero naming `observability`, having taken no input and delivered nothing';
  it(title, async () => {
    const musts = new Musts();
    const taken = await holdPort();
    s.defer(() => new Promise((resolve) => taken.server.close(resolve)));
    const endpoint = await s.endpoint();
    const feed = await s.feed();
    const updates = distinctUpdates(10, 'taken-port-');
    // A feed that sends at once: any input taken before the servers bound would show as a delivery.
    void feed.connection(1).then(() => feed.send(updates));
    const configFile = FaultRun.writeConfig(
      FaultRun.config(taken.port, { source: `{ websocket: { url: "${feed.url}" } }`, endpoint }),
    );
    const run = FaultRun.startWith(configFile, taken.port);

    const exited = await musts.checkAsync('the process exits by itself', async () => {
      const exit = await run.exited(15_000);
      checkExit(run, exit, 'non-zero');
    });
    if (!exited) run.signal('SIGKILL');
    musts.check('the error names the config key `observability`', () => {
      const said = [...run.at(LEVEL.error).map((l) => `${l.msg} ${JSON.stringify(l)}`), ...run.rawLines].join('\n');
      expect(said).to.match(/observability/);
    });
    musts.check('no input taken before every server bound: the feed saw no connection', () =>
      expect(feed.server.connections.length).to.equal(0),
    );
    musts.check('nothing delivered', () => expect(endpoint.arrivals).to.have.length(0));
    musts.check('every error in the structured log', () => checkStructuredLogs(run));
    musts.verify();
  });

  it('listen port taken: exits non-zero naming `source.websocket.listen`', async () => {
    const musts = new Musts();
    const taken = await holdPort();
    s.defer(() => new Promise((resolve) => taken.server.close(resolve)));
    const endpoint = await s.endpoint();
    const run = await FaultRun.start((port) =>
      FaultRun.config(port, { source: `{ websocket: { listen: { port: ${taken.port}, token: t0ken } } }`, endpoint }),
    );
    const exited = await musts.checkAsync('the process exits by itself', async () => {
      const exit = await run.exited(15_000);
      checkExit(run, exit, 'non-zero');
    });
    if (!exited) run.signal('SIGKILL');
    await until(() => !run.alive, 5_000, 'the process gone');
    musts.check('the error names the config key `source.websocket.listen`', () => {
      const said = [...run.at(LEVEL.error).map((l) => `${l.msg} ${JSON.stringify(l)}`), ...run.rawLines].join('\n');
      expect(said).to.match(/source\.websocket\.listen/);
    });
    musts.verify();
  });
});
