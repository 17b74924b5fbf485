import { asapScheduler, interval, Observable, type OperatorFunction, Subject, type Subscription } from 'rxjs';
import type { OperatorContext } from './define.js';
import { settle, type Envelope } from './envelope.js';
import { messageOf } from './errors.js';
import { failed, type Outcome, Reasons } from './outcome.js';
import { Ticket, type TicketError } from './ticket.js';

export interface PluginGuardOptions {
  /** The plug-in's name, in every outcome and fault it causes. */
  readonly name: string;
  /** Makes the plug-in's operator; called again if its stream ends or fails before its input did. */
  readonly create: () => OperatorFunction<Envelope, Envelope>;
  /**
   * An envelope the plug-in neither passes on nor settles within this time of being given it is settled
   * `operator-dropped`. The time includes any wait inside the plug-in (a queue of `perEnvelopeAsync`).
   */
  readonly timeoutMs: number;
  readonly context: Pick<OperatorContext, 'scheduler' | 'report'>;
}

/**
 * One envelope given to the plug-in. `settling`: the plug-in settled it, and the outcome is held back to
 * the end of its step (on the scheduler), so a second settle, or passing it on too, in that step turns it
 * into `operator-error`.
 */
interface Held {
  /** The envelope as the guard got it: its ticket is the real one, which only the guard settles. */
  readonly envelope: Envelope;
  /** The proxy ticket the plug-in holds instead. */
  readonly proxy: Ticket;
  readonly since: number;
  state: 'held' | 'passed' | 'settling' | 'done';
  conflict?: string;
}

/**
 * Runs a plug-in so that nothing it does can break the books or stop the pipeline. The plug-in is given
 * each envelope with a proxy ticket (`Ticket.proxy`); the guard keeps the real one and settles it, or
 * passes the envelope on with it, by what the plug-in did:
 *
 * - passed on: goes on with its real ticket (a later settle by the plug-in is misuse: reported, ignored);
 * - settled: the outcome is recorded at the end of the step; settled twice, or settled and passed on,
 *   in that step: `failed: operator-error` instead;
 * - neither, within `timeoutMs`, or by the time its stream completes: `failed: operator-dropped`;
 * - its stream failed (a throw): the envelope it was given then, and any others it held, are
 *   `failed: operator-error`; the plug-in is made again and the stream goes on;
 * - emitted something it was not given, or twice: dropped and reported.
 *
 * When the guard is unsubscribed (the pipeline stopping) or its source fails, what the plug-in still
 * holds is released to its source, as any operator's waiting envelopes are.
 */
export const guardPlugin =
  ({ name, create, timeoutMs, context }: PluginGuardOptions): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    new Observable<Envelope>((subscriber) => {
      const { scheduler, report = () => {} } = context;
      const now = (): number => (scheduler ? scheduler.now() : Date.now());
      const fault = (message: string): void => report(new Error(`plug-in ${name}: ${message}`));
      const dropped = (detail: string): Outcome => failed(Reasons.operatorDropped, { detail: `${name}: ${detail}` });
      const errored = (detail: string): Outcome => failed(Reasons.operatorError, { detail: `${name}: ${detail}` });
      /** By proxy ticket: what the plug-in holds, and what it settled in the step now ending. */
      const entries = new Map<Ticket, Held>();
      let input = new Subject<Envelope>();
      let instance: Subscription | undefined;
      let broken: string | undefined;
      let current: Held | undefined;
      /** Whether the running instance was given anything: one that ends before that is not made again. */
      let fed = false;
      let sourceDone = false;
      let sweeper: Subscription | undefined;

      const finish = (entry: Held, outcome: Outcome): void => {
        entry.state = 'done';
        entries.delete(entry.proxy);
        settle(entry.envelope, outcome);
      };
      const finishIfDone = (): void => {
        if (!sourceDone || entries.size > 0) return;
        sweeper?.unsubscribe();
        instance?.unsubscribe();
        subscriber.complete();
      };

      /** Every tenth of the limit, the envelopes held longer than the limit are settled. */
      const sweep = (): void => {
        const deadline = now() - timeoutMs;
        for (const entry of [...entries.values()]) {
          if (entry.since > deadline) break; // in arrival order: the rest are younger
          if (entry.state === 'held') finish(entry, dropped(`neither passed on nor settled within ${timeoutMs} ms`));
        }
        if (entries.size === 0) {
          sweeper?.unsubscribe();
          sweeper = undefined;
        }
        finishIfDone();
      };

      const delegateOf = (entry: Held) => ({
        settle: (outcome: Outcome) => {
          if (entry.state !== 'held') {
            fault(`settled an update it no longer held (${entry.state}); ignored`);
            return;
          }
          entry.state = 'settling';
          // The end of the step: on the scheduler, so in virtual time under test.
          (scheduler ?? asapScheduler).schedule(() => {
            finish(entry, entry.conflict === undefined ? outcome : errored(entry.conflict));
            finishIfDone();
          });
        },
        misuse: (error: TicketError) => {
          if (entry.state === 'settling') entry.conflict = `settled this update twice (${error.message})`;
          else fault(`misused an update's ticket: ${error.message}`);
        },
      });

      const onOutput = (value: Envelope): void => {
        const proxy = (value as Partial<Envelope> | undefined)?.ticket;
        const entry = proxy && entries.get(proxy);
        if (!entry || entry.state === 'passed' || entry.state === 'done') {
          fault('passed on something it was not given, or passed an update on twice; dropped');
          return;
        }
        if (entry.state === 'settling') {
          entry.conflict = 'settled this update and passed it on';
          return;
        }
        entry.state = 'passed';
        entries.delete(proxy);
        subscriber.next({ ...value, ticket: entry.envelope.ticket });
        finishIfDone();
      };

      const onPluginEnd = (error?: unknown): void => {
        instance = undefined;
        const what = error === undefined ? undefined : messageOf(error);
        if (current?.state === 'held' && what !== undefined) finish(current, errored(`threw: ${what}`));
        for (const entry of [...entries.values()])
          if (entry.state === 'held')
            finish(
              entry,
              what === undefined
                ? dropped('its stream completed without passing this update on or settling it')
                : errored(`its stream failed while holding this update: ${what}`),
            );
        if (what !== undefined && current === undefined) fault(`its stream failed: ${what}`);
        if (sourceDone) {
          // Its input is done: nothing to make it again for.
        } else if (fed) start();
        else {
          broken = `its stream ended before taking any update${what === undefined ? '' : `: ${what}`}`;
          fault(broken);
        }
        finishIfDone();
      };

      const start = (): void => {
        input = new Subject<Envelope>();
        fed = false;
        try {
          const operator = create();
          instance = operator(input).subscribe({ next: onOutput, error: onPluginEnd, complete: () => onPluginEnd() });
        } catch (error) {
          broken = `could not be made again: ${messageOf(error)}`;
          fault(broken);
        }
      };

      const give = (envelope: Envelope): void => {
        if (broken !== undefined) {
          settle(envelope, errored(broken));
          return;
        }
        const entry = { envelope, since: now(), state: 'held' } as Held;
        (entry as { proxy: Ticket }).proxy = Ticket.proxy(delegateOf(entry));
        entries.set(entry.proxy, entry);
        sweeper ??= interval(Math.max(1, Math.ceil(timeoutMs / 10)), scheduler).subscribe(sweep);
        // Saved and restored: a plug-in that emits synchronously may have the guard give it more meanwhile.
        const outer = current;
        current = entry;
        fed = true;
        try {
          input.next({ ...envelope, ticket: entry.proxy });
        } finally {
          current = outer;
        }
      };

      /** The pipeline stops, or the source failed: what the plug-in holds goes back to its source. */
      const releaseHeld = (): void => {
        for (const entry of [...entries.values()]) {
          if (entry.state !== 'held') continue;
          entry.state = 'done';
          entries.delete(entry.proxy);
          entry.envelope.ticket.release();
        }
      };

      start();
      const upstream = source.subscribe({
        next: give,
        error: (error: unknown) => {
          releaseHeld();
          subscriber.error(error);
        },
        complete: () => {
          sourceDone = true;
          input.complete();
          finishIfDone();
        },
      });
      return () => {
        upstream.unsubscribe();
        sweeper?.unsubscribe();
        instance?.unsubscribe();
        releaseHeld();
      };
    });
