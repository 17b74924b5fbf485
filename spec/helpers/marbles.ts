import { expect } from 'chai';
import { TestScheduler } from 'rxjs/testing';
import type { Envelope } from '../../operators/model/envelope.js';
import { Ledger, type Settlement } from '../../operators/model/ledger.js';
import type { JsonObject } from '../../operators/model/json.js';
import { Ticket } from '../../operators/model/ticket.js';
import { Profile } from '../../operators/model/profile.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';

/** A TestScheduler that compares frames with chai's deep equality. */
export const testScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

/** A ledger plus every settlement it saw, stamped with the virtual frame it happened at. */
export class Books {
  readonly ledger = new Ledger();
  readonly settled: Array<Settlement & { readonly frame: number }> = [];

  constructor(scheduler?: TestScheduler) {
    this.ledger.settlements$.subscribe((settlement) =>
      this.settled.push({ ...settlement, frame: scheduler?.now() ?? 0 }),
    );
  }

  /** `position -> outcome kind and reason`, for compact assertions. */
  summary(): Record<string, string> {
    return Object.fromEntries(
      this.settled.map(({ origin, outcome }) => [
        origin.position,
        outcome.kind === 'excluded' || outcome.kind === 'failed' ? `${outcome.kind}:${outcome.reason}` : outcome.kind,
      ]),
    );
  }
}

/** A raw message envelope, as a source would make it (received: counted in the ledger). */
export const messageEnvelope = (ledger: Ledger, message: unknown, position = '1', onDone?: () => void): Envelope => ({
  origin: { source: 'test', position },
  receivedAt: 0,
  ticket: Ticket.open(ledger, onDone),
  message,
  payload: {},
});

/** A decoded profile envelope, as `decode` would emit it. */
export const profileEnvelope = (
  ledger: Ledger,
  profile: Profile,
  position = '1',
  payload: JsonObject = {},
): Envelope => ({
  origin: { source: 'test', position },
  receivedAt: 0,
  ticket: Ticket.open(ledger),
  message: undefined,
  profile,
  payload,
});

/** A profile from plain JSON, through the real codec (as `decode` would produce it). */
export const profileOf = (raw: unknown): Profile => decodeOrThrow(Profile, raw);
