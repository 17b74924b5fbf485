import { messageOf } from '../../../operators/model/errors.js';
import { totalOf } from '../../../operators/model/ledger.js';
import { expect } from 'chai';
import type { CountingEndpoint } from './counting-endpoint.js';
import type { Exit, FinalCounts, FaultRun, Readiness } from './fault-run.js';
import { keyOfBody, type Update } from './producers.js';
import { until } from './waits.js';

export interface DeliveryExpectation {
  /** Exactly the updates that must reach the workflow. */
  readonly expected: readonly Update[];
  readonly endpoint: CountingEndpoint;
  /** The destination's limit: no window of `perSeconds` may hold more than `requests` requests. */
  readonly rateLimit?: { readonly requests: number; readonly perSeconds: number };
  /**
   * Repeats tolerated: a killed process's requests on the wire may be sent again after a restart
   * (README: "what the killed process had in flight may be sent a second time"). 0 unless a SIGKILL.
   */
  readonly allowRepeats?: number;
}

const preview = (items: readonly string[], max = 5): string =>
  `${items.slice(0, max).join(', ')}${items.length > max ? `, ... (${items.length} in all)` : ''}`;

/**
 * What every fault scenario checks at the endpoint, each as a must of its own: the delivered set is the
 * expected set (nothing lost, nothing extra), nothing was delivered twice, and the rate limit was
 * never exceeded.
 */
export const checkDelivery = (musts: Musts, expectation: DeliveryExpectation): void => {
  const { expected, endpoint, rateLimit, allowRepeats = 0 } = expectation;
  const accepted = endpoint.accepted().map((a) => keyOfBody(a.body) ?? `(not a payload) ${a.body.slice(0, 80)}`);
  const delivered = new Set(accepted);
  musts.check('delivered set = expected set', () => {
    const wanted = new Set(expected.map((u) => u.key));
    const missing = [...wanted].filter((key) => !delivered.has(key));
    const extra = [...delivered].filter((key) => !wanted.has(key));
    expect(missing, `updates never delivered: ${preview(missing)}`).to.deep.equal([]);
    expect(extra, `deliveries nobody sent: ${preview(extra)}`).to.deep.equal([]);
  });
  const but = allowRepeats > 0 ? ` (but ${allowRepeats} on the wire at a kill)` : '';
  musts.check(`nothing delivered twice${but}`, () => {
    const twice = endpoint.duplicates().map((d) => `${keyOfBody(d.body) ?? '?'} x${d.times}`);
    expect(accepted.length - delivered.size, `delivered more than once: ${preview(twice)}`).to.be.at.most(allowRepeats);
  });
  if (rateLimit) {
    musts.check(`rate limit never exceeded (${rateLimit.requests} per ${rateLimit.perSeconds} s)`, () => {
      const busiest = endpoint.busiestWindow(rateLimit.perSeconds * 1000);
      expect(busiest, `requests in the busiest ${rateLimit.perSeconds} s window`).to.be.at.most(rateLimit.requests);
    });
  }
};

export interface CountsExpectation {
  /** How many updates the process received, if known exactly. */
  readonly received?: number;
  /** Failed outcomes allowed (by reason); anything else failed fails the check. Default: none. */
  readonly failed?: Readonly<Record<string, number>>;
}

/**
 * One outcome per update, from a process's final counts: everything received settled, nothing in
 * flight, and no failures but those allowed (our own outages must not turn into failed updates).
 */
export const checkCounts = (
  counts: FinalCounts | undefined,
  { received, failed = {} }: CountsExpectation = {},
): FinalCounts => {
  expect(counts, 'the process logged its final counts ("pipeline stopped")').not.to.equal(undefined);
  const c = counts!;
  if (received !== undefined) expect(c.received, 'updates received').to.equal(received);
  // A stop releases what waited (unsettled, pending in the stream for the next start): counted apart.
  const outcomes = c.delivered + c.duplicate + totalOf(c.excluded) + totalOf(c.failed);
  expect(outcomes + c.released, 'outcomes + released = received').to.equal(c.received);
  expect(c.inFlight, 'left in flight').to.equal(0);
  expect(c.failed, 'failed outcomes').to.deep.equal(failed);
  return c;
};

/** The exit code a scenario requires, with the process's last lines when it is not. */
export const checkExit = (run: FaultRun, exit: Exit, expected: number | 'non-zero'): void => {
  const last = run.logs[run.logs.length - 1]?.msg ?? run.rawLines[run.rawLines.length - 1] ?? 'nothing';
  const what = `exit code ${String(exit.code)}, signal ${String(exit.signal)}, last log line: ${last}`;
  if (expected === 'non-zero') expect(exit.code, what).to.be.a('number').and.not.equal(0);
  else expect(exit.code, what).to.equal(expected);
};

/** /readyz answers 503 and names `check` as failing, with `detail` matching. */
export const expectNotReady = (readiness: Readiness, check: string, detail?: RegExp): void => {
  expect(readiness.status, `/readyz status (${readiness.body})`).to.equal(503);
  const found = readiness.checks[check];
  expect(found, `/readyz has a "${check}" check (${readiness.body})`).not.to.equal(undefined);
  expect(found!.ok, `/readyz "${check}" check (${readiness.body})`).to.equal(false);
  if (detail) expect(found!.detail).to.match(detail);
};

/** Every line of stderr was structured (pino JSON): no raw `[ioredis] Unhandled error event` and the like. */
export const checkStructuredLogs = (run: FaultRun): void => {
  const first = run.rawLines.slice(0, 2).join(' | ');
  expect(run.rawLines, `${run.rawLines.length} stderr lines not JSON log lines, first: ${first}`).to.deep.equal([]);
};

/**
 * The scenario's "musts", each checked on its own: a failing one is recorded and the scenario goes on,
 * so one run reports every must that does not hold today, not only the first. `verify` fails the test
 * with all of them.
 */
export class Musts {
  readonly failures: string[] = [];

  /** Checks one must now; a failed assertion is recorded, not thrown. */
  check(what: string, assertion: () => void): boolean {
    try {
      assertion();
      return true;
    } catch (error) {
      this.failures.push(`${what}: ${messageOf(error)}`);
      return false;
    }
  }

  /** Like `check`, for a must that takes time (waiting for deliveries, a probe). */
  async checkAsync(what: string, assertion: () => Promise<unknown>): Promise<boolean> {
    try {
      await assertion();
      return true;
    } catch (error) {
      this.failures.push(`${what}: ${messageOf(error)}`);
      return false;
    }
  }

  verify(): void {
    if (this.failures.length === 0) return;
    const list = this.failures.map((f) => ` - ${f.split('\n').slice(0, 6).join('\n   ')}`).join('\n');
    throw new Error(`${this.failures.length} must(s) did not hold:\n${list}`);
  }
}

export interface EndExpectation extends DeliveryExpectation, CountsExpectation {
  /** The signal that ends the run; default SIGTERM. */
  readonly signal?: NodeJS.Signals;
  /** Default 0. */
  readonly exitCode?: number | 'non-zero';
  /** How long the process may take to exit after the signal. */
  readonly withinMs?: number;
}

/**
 * Ends a run with a signal and checks what every scenario owes: the exit code, one outcome per update
 * (its final counts), delivered set = expected set with nothing twice and the limit held, and every
 * error in the structured log.
 */
export const checkEnd = async (
  musts: Musts,
  run: FaultRun,
  expectation: EndExpectation,
): Promise<Exit & { ms: number }> => {
  const { signal = 'SIGTERM', exitCode = 0, withinMs = 30_000, received, failed, ...delivery } = expectation;
  const exit = await run.stopWith(signal, withinMs + 5_000);
  musts.check(`exit code after ${signal}`, () => checkExit(run, exit, exitCode));
  musts.check(`exit within ${withinMs} ms of ${signal}`, () => expect(exit.ms).to.be.at.most(withinMs));
  musts.check('one outcome per update (final counts)', () =>
    checkCounts(run.finalCounts(), { ...(received === undefined ? {} : { received }), ...(failed ? { failed } : {}) }),
  );
  checkDelivery(musts, delivery);
  musts.check('every error in the structured log', () => checkStructuredLogs(run));
  return exit;
};

/** The must that /readyz recovers by itself: 200 within `timeoutMs`, or the last answer it gave. */
export const checkReadyAgain = async (musts: Musts, run: FaultRun, timeoutMs = 5_000): Promise<boolean> => {
  let last = '';
  const ready = async (): Promise<boolean> => {
    const readiness = await run.readyz();
    last = `${readiness.status} ${JSON.stringify(readiness.checks)}`;
    return readiness.status === 200;
  };
  return musts.checkAsync('/readyz 200 again, by itself', () =>
    until(ready, timeoutMs, () => `/readyz 200 (last: ${last})`),
  );
};
