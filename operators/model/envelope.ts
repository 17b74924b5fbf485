import type { IdentityRef, Origin } from './ledger.js';
import type { JsonObject } from './json.js';
import type { Outcome } from './outcome.js';
import type { Profile } from './profile.js';
import type { Ticket } from './ticket.js';
import type { Turn, Turns } from './turns.js';

/**
 * What flows through the pipeline: one profile update, the payload being built from it, where it came
 * from, and the ticket that settles it. Envelopes are immutable; an operator that changes one emits a
 * copy. Fields fill in as the envelope moves on:
 *
 * - `message`: the raw message as received (set by the source, consumed by `decode`)
 * - `profile`: the decoded profile (`decode`)
 * - `payload`: `segmentMembership` (`qualify`), `identityMap` (`selectIdentity`), attributes (`projectAttributes`)
 * - `identity`: the identity that orders and dedupes this update (`selectIdentity`)
 * - `turns`: the message's places in its people's lines, from a journal (set by the source); `turn`: this
 *   profile's own (`decode`), which `keepOrder` waits for
 */
export interface Envelope {
  readonly origin: Origin;
  readonly receivedAt: number;
  readonly ticket: Ticket;
  readonly message?: unknown;
  readonly profile?: Profile;
  readonly identity?: IdentityRef;
  readonly turns?: Turns;
  readonly turn?: Turn;
  readonly payload: JsonObject;
}

/** Settles an envelope: it leaves the pipeline with this outcome. */
export const settle = (envelope: Envelope, outcome: Outcome): void =>
  envelope.ticket.settle(outcome, { origin: envelope.origin, identity: envelope.identity, receivedAt: envelope.receivedAt });

/** Hands an envelope back unsettled: the pipeline is stopping and its source keeps it for the next start. */
export const release = (envelope: Envelope): void => envelope.ticket.release();

/** The key that says "the same person" for ordering and dedupe: `email:ann@example.com`. */
export const identityKey = (identity: IdentityRef): string =>
  `${identity.target}:${identity.target === 'email' ? identity.id.toLowerCase() : identity.id}`;
