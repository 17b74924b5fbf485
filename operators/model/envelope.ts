import type { JsonObject } from './json.js';
import type { Outcome } from './outcome.js';
import type { Profile } from './profile.js';
import type { Ticket } from './ticket.js';
import type { Turn, Turns } from './turns.js';

/** Where an envelope came from: the source's name and its position there (sequence number or stream id). */
export interface Origin {
  readonly source: string;
  readonly position: string;
}

/** Which identity an envelope was selected for (set by `selectIdentity`). */
export interface IdentityRef {
  readonly namespace: string;
  readonly target: 'email' | 'external_id';
  readonly id: string;
}

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
  /**
   * Set by a feed shared by several flows when this flow cannot send (its destination rejected or down)
   * and already holds its share of the feed: `emit` dead-letters it as `flow-paused` instead of holding
   * it, so one stuck flow cannot take the whole feed. `dlq redrive --flow` sends it later.
   */
  readonly shed?: boolean;
  /**
   * Set by `consent` (a flow with a `consent` section): `given`, or `withdrawn` when the profile has no
   * consent: then its payload says `exited` for its audiences, and `emit` sends it only if the person is
   * in one of them as delivered (then never again until consent returns: after that delivery the person
   * is in none); otherwise it is excluded as `no-consent`. With either, `emit` records which audiences
   * a delivery leaves the person in; without (no consent configured), it records nothing.
   */
  readonly consent?: 'given' | 'withdrawn';
}

/** Settles an envelope: it leaves the pipeline with this outcome. */
export const settle = (envelope: Envelope, outcome: Outcome): void =>
  envelope.ticket.settle(outcome, {
    origin: envelope.origin,
    identity: envelope.identity,
    receivedAt: envelope.receivedAt,
  });

/** Hands an envelope back unsettled: the pipeline is stopping and its source keeps it for the next start. */
export const release = (envelope: Envelope): void => envelope.ticket.release();

/** The key that says "the same person" for ordering and dedupe: `email:ann@example.com`. */
export const identityKey = (identity: IdentityRef): string =>
  `${identity.target}:${identity.target === 'email' ? identity.id.toLowerCase() : identity.id}`;

/**
 * The lane an envelope runs in where one person's updates must go one at a time: its identity, or, for
 * an envelope without one yet, a lane of its own.
 */
export const laneKeyOf = (envelope: Envelope): string =>
  envelope.identity ? identityKey(envelope.identity) : `position:${envelope.origin.source}:${envelope.origin.position}`;
