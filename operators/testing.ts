import { from, lastValueFrom, toArray, type OperatorFunction } from 'rxjs';
import { decodeOrThrow } from './model/codecs.js';
import type { OperatorContext, OperatorDefinition } from './model/define.js';
import type { Envelope, IdentityRef } from './model/envelope.js';
import type { JsonObject } from './model/json.js';
import { Ledger, type Settlement } from './model/ledger.js';
import { Profile } from './model/profile.js';
import { Ticket } from './model/ticket.js';
import { guardPlugin } from './model/plugin-guard.js';

/** What came out of an operator: the envelopes it passed on, how it settled the others, and its faults. */
export interface OperatorTestResult {
  readonly passed: readonly Envelope[];
  readonly settled: readonly Settlement[];
  /** What the pipeline would log about the operator: a ticket misused, something passed on it was not given. */
  readonly faults: readonly string[];
}

export interface OperatorTestInput {
  /** The profile, as Adobe sends it. */
  readonly profile: unknown;
  /** The payload built so far (what earlier operators put in), if any. */
  readonly payload?: JsonObject;
  /** The identity `selectIdentity` chose, for an operator placed after it. */
  readonly identity?: IdentityRef;
}

/**
 * Runs an operator definition on a few profiles, the way the pipeline would, and answers what it
 * passed on and what it settled. Options go through the definition's codec, as from a config file.
 *
 * @example
 * const { passed, settled } = await testOperator(requireConsentOperator, { path: 'consents.marketing.val' }, [
 *   { profile: { consents: { marketing: { val: 'y' } } } },
 *   { profile: {} },
 * ]);
 * // passed.length === 1; settled[0].outcome.reason === 'no-consent'
 */
export const testOperator = async <C extends OperatorDefinition>(
  definition: C,
  options: unknown,
  inputs: readonly OperatorTestInput[],
  context: Partial<OperatorContext> = {},
  /** How long an envelope may be held before it counts as dropped (the pipeline's default: 60 s). */
  timeoutMs = 60_000,
): Promise<OperatorTestResult> => {
  const ledger = new Ledger();
  const settled: Settlement[] = [];
  ledger.settlements$.subscribe((s) => settled.push(s));
  const envelopes = inputs.map(
    ({ profile, payload = {}, identity }, index): Envelope => ({
      origin: { source: 'test', position: `${index + 1}-0` },
      receivedAt: Date.now(),
      ticket: Ticket.open(ledger),
      profile: decodeOrThrow(Profile, profile, 'profile'),
      payload,
      ...(identity ? { identity } : {}),
    }),
  );
  const decoded: unknown = decodeOrThrow(definition.options, options ?? {}, `${definition.name} options`);
  // Through the same guard the pipeline runs plug-ins in: a dropped or twice-settled envelope shows
  // here as it would in production (`operator-dropped`, `operator-error`).
  const faults: string[] = [];
  const operator: OperatorFunction<Envelope, Envelope> = guardPlugin({
    name: definition.name,
    create: () => definition.create(decoded, context as OperatorContext),
    timeoutMs,
    context: { ...context, report: (error) => faults.push(error.message) },
  });
  const passed = await lastValueFrom(from(envelopes).pipe(operator, toArray()));
  return { passed, settled, faults };
};
