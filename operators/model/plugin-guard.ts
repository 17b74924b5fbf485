import { Observable, Subject, asapScheduler, interval, type OperatorFunction, type Subscription } from 'rxjs';
import type { OperatorContext } from './define.js';
import { settle, type Envelope } from './envelope.js';
import { messageOf } from './errors.js';
import { failed, Reasons, type Outcome } from './outcome.js';
import type { Ticket, TicketError } from './ticket.js';

export interface PluginGuardOptions {
  /** The plug-in's name, in every outcome and fault it causes. */
  readonly name: string;
  /** Makes the plug-in's operator; called again if its stream ends or fails before its input did. */
  readonly create: () => OperatorFunction<Envelope, Envelope>;
  /** An envelope the plug-in neither passes on nor settles within this time is settled `operator-dropped`. */
  readonly timeoutMs: number;
  readonly context: Pick<OperatorContext, 'scheduler' | 'report'>;
}

/**
 * Where one envelope given to the plug-in stands. `settling`: the plug-in settled it and the outcome is
 * held back for one microtask, so a second settle (or passing it on too) in the same step turns it
 * into `operator-error` instead of being ignored.
 */
interface Held {
  readonly envelope: Envelope;
  readonly since: number;
  state: 'held' | 'passed' | 'settling' | 'done';
  conflict?: string;
}

/**
 * Runs a plug-in so that nothing it does can break the books or stop the pipeline:
 *
 * - an envelope it neither passes on nor settles is settled `failed` (`operator-dropped`, naming it)
 *   after `timeoutMs`, or at once when its stream completes;
 * - a throw that ends its stream settles the envelope it was given (`operator-error`), and every other
 *   one it held; the plug-in is made again and the stream goes on;
 * - settling an envelope twice, or settling and passing it on, in one step settles it `operator-error`;
 *   later misuse (the outcome is recorded, perhaps acknowledged) is reported and ignored;
 * - what it emits that it was not given, or emits twice, is dropped and reported.
 *
 * Each envelope is handed to the plug-in with a ticket of its own (`Ticket.forPlugin`), by which the
 * guard sees the plug-in settle it.
 */
export const guardPlugin =
  ({ name, create, timeoutMs, context }: PluginGuardOptions): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    new Observable<Envelope>((subscriber) => {
      const { scheduler, report = () => {} } = context;
      const now = (): number => (scheduler ? scheduler.now() : Date.now());
      const fault = (message: string): void => report(new Error(`plug-in ${name}: ${message}`));
      const held = new Map<Ticket, Held>();
      /** Envelopes the plug-in settled, their outcome held back to the end of its step; the guard completes after them. */
      const settling = new Map<Ticket, Held>();
      let input = new Subject<Envelope>();
      let instance: Subscription | undefined;
      let broken: string | undefined;
      let current: Held | undefined;
      /** Whether the running instance was given anything: one that ends before that is not made again. */
      let fed = false;
      let sourceDone = false;
      let sweeper: Subscription | undefined;

      /** Settles an envelope the plug-in still holds, on its behalf. */
      const settleHeld = (entry: Held, outcome: Outcome): void => {
        if (entry.state !== 'held') return;
        entry.state = 'done';
        held.delete(entry.envelope.ticket);
        settle(entry.envelope, outcome);
      };
      const dropped = (detail: string): Outcome => failed(Reasons.operatorDropped, { detail: `${name}: ${detail}` });
      const errored = (detail: string): Outcome => failed(Reasons.operatorError, { detail: `${name}: ${detail}` });

      const finishIfDone = (): void => {
        if (!sourceDone || held.size > 0 || settling.size > 0) return;
        sweeper?.unsubscribe();
        instance?.unsubscribe();
        subscriber.complete();
      };

      /** Every so often (a tenth of the limit), the envelopes held longer than the limit are settled. */
      const sweep = (): void => {
        const deadline = now() - timeoutMs;
        for (const entry of [...held.values()]) {
          if (entry.since > deadline) break; // held in arrival order: the rest are younger
          settleHeld(entry, dropped(`neither passed on nor settled within ${timeoutMs} ms`));
        }
        if (held.size === 0) {
          sweeper?.unsubscribe();
          sweeper = undefined;
        }
        finishIfDone();
      };

      /**
       * The outcome of an envelope the plug-in settles is recorded at the end of its step (on the
       * scheduler, so in virtual time under test), so that misuse within the step can still change it.
       */
      const ticketHook =
        (entry: Held) =>
        (outcome: Outcome): Outcome | PromiseLike<Outcome> => {
          if (entry.state !== 'held') return outcome; // passed on: settled downstream, nothing of ours
          entry.state = 'settling';
          held.delete(entry.envelope.ticket);
          settling.set(entry.envelope.ticket, entry);
          const recordLater = (record: (final: Outcome) => void): void => {
            (scheduler ?? asapScheduler).schedule(() => {
              entry.state = 'done';
              settling.delete(entry.envelope.ticket);
              record(entry.conflict === undefined ? outcome : errored(entry.conflict));
              finishIfDone();
            });
          };
          // A thenable, not a promise: a promise would record outside the scheduler's (virtual) time.
          // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose, see above
          return { then: recordLater } as unknown as PromiseLike<Outcome>;
        };
      const onMisuse = (entry: Held) => (error: TicketError) => {
        if (entry.state === 'settling') entry.conflict = `settled this update twice (${error.message})`;
        else fault(`misused an update's ticket after it was settled or passed on: ${error.message}`);
      };

      const onOutput = (value: Envelope): void => {
        const ticket = (value as Partial<Envelope> | undefined)?.ticket;
        const entry = ticket && (held.get(ticket) ?? settling.get(ticket));
        if (!entry) {
          fault('passed on something it was not given, or passed an update on twice; dropped');
          return;
        }
        if (entry.state === 'settling') {
          entry.conflict = 'settled this update and passed it on';
          return;
        }
        entry.state = 'passed';
        held.delete(entry.envelope.ticket);
        subscriber.next(value);
        finishIfDone();
      };

      const onPluginEnd = (error?: unknown): void => {
        instance = undefined;
        const what = error === undefined ? undefined : messageOf(error);
        if (current && what !== undefined) settleHeld(current, errored(`threw: ${what}`));
        for (const entry of [...held.values()])
          settleHeld(
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
        const entry: Held = { envelope, since: now(), state: 'held' };
        const ticket = envelope.ticket.forPlugin(ticketHook(entry), onMisuse(entry));
        const given: Envelope = { ...envelope, ticket };
        (entry as { envelope: Envelope }).envelope = given;
        held.set(ticket, entry);
        sweeper ??= interval(Math.max(1, Math.ceil(timeoutMs / 10)), scheduler).subscribe(sweep);
        current = entry;
        fed = true;
        try {
          input.next(given);
        } finally {
          current = undefined;
        }
      };

      start();
      const upstream = source.subscribe({
        next: give,
        error: (error: unknown) => subscriber.error(error),
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
      };
    });
