/**
 * The one final state every envelope ends in. `received = delivered + excluded + duplicate + failed +
 * in flight` holds at every moment because an envelope leaves the pipeline only through one of these.
 */
export type Outcome = Delivered | Excluded | Duplicate | Failed;

/** The destination accepted the payload (a 2xx answer). */
export interface Delivered {
  readonly kind: 'delivered';
  readonly status: number;
  readonly attempts: number;
}

/** Deliberately not sent: policy, qualification, missing identity, bad input. `reason` is a stable code. */
export interface Excluded {
  readonly kind: 'excluded';
  readonly reason: string;
  readonly detail?: string;
}

/** The same payload for the same identity was already delivered. */
export interface Duplicate {
  readonly kind: 'duplicate';
  readonly detail?: string;
}

/** Sending was attempted (or refused before sending) and did not succeed. `reason` is a stable code. */
export interface Failed {
  readonly kind: 'failed';
  readonly reason: string;
  readonly status?: number;
  readonly detail?: string;
  readonly attempts?: number;
}

export const delivered = (status: number, attempts = 1): Delivered => ({ kind: 'delivered', status, attempts });

export const excluded = (reason: string, detail?: string): Excluded =>
  detail === undefined ? { kind: 'excluded', reason } : { kind: 'excluded', reason, detail };

export const duplicate = (detail?: string): Duplicate =>
  detail === undefined ? { kind: 'duplicate' } : { kind: 'duplicate', detail };

export const failed = (reason: string, extra: Omit<Failed, 'kind' | 'reason'> = {}): Failed => ({
  kind: 'failed',
  reason,
  ...extra,
});

/** Stable reason codes the built-in operators use; plug-ins may add their own. */
export const Reasons = {
  invalidJson: 'invalid-json',
  invalidProfile: 'invalid-profile',
  emptyMessage: 'empty-message',
  notQualified: 'not-qualified',
  missingIdentity: 'missing-identity',
  /** The profile has no consent for this flow (see the `consent` section). */
  noConsent: 'no-consent',
  payloadTooLarge: 'payload-too-large',
  networkError: 'network-error',
  operatorError: 'operator-error',
  /** A plug-in neither passed the update on nor settled it (in time, or before its stream ended). */
  operatorDropped: 'operator-dropped',
  /** Its flow could not send (destination rejected or down) and held its share of a shared feed already. */
  flowPaused: 'flow-paused',
  stale: 'stale',
  /** The person was forgotten (`forget`) after this update was received: a replay does not bring it back. */
  forgotten: 'forgotten',
  invalidDeadLetter: 'invalid-dead-letter',
  retriesExhausted: 'retries-exhausted',
  shutdown: 'shutdown',
} as const;

/** `http-404` for a status code: the reason a request answered with that status fails with. */
export const httpReason = (status: number): string => `http-${status}`;
