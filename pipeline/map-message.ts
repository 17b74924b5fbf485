import { lastValueFrom, of, toArray } from 'rxjs';
import type { OperatorContext } from '../operators/model/define.js';
import { NOT_IN_AUDIENCES } from '../operators/consent.js';
import { settle } from '../operators/model/envelope.js';
import type { JsonObject } from '../operators/model/json.js';
import { excluded, Reasons } from '../operators/model/outcome.js';
import { Ledger, type Settlement } from '../operators/model/ledger.js';
import { compose, mappingPart, type ChainLink } from './chain.js';
import { envelopeOf } from './runner.js';

/** What mapping one message came to: the payloads it would send, and the updates it would not. */
export interface Mapped {
  readonly payloads: readonly JsonObject[];
  readonly settlements: readonly Settlement[];
}

/**
 * Maps one raw message the way the pipeline would, through the mapping part of `chain` (plug-ins
 * included, up to `keepOrder`): nothing is sent and nothing is remembered. For `send-test` and `test`.
 */
export const mapMessage = async (
  chain: readonly ChainLink[],
  raw: unknown,
  context: OperatorContext,
): Promise<Mapped> => {
  const ledger = new Ledger();
  const settlements: Settlement[] = [];
  ledger.settlements$.subscribe((settlement) => settlements.push(settlement));
  const envelope = envelopeOf({ data: raw }, ledger, 'map', () => '0-0');
  const out = await lastValueFrom(compose(of(envelope), mappingPart(chain), context).pipe(toArray()));
  // A consent withdrawal is sent only to someone sent before; here nothing is remembered, so nobody was.
  for (const withdrawal of out.filter((e) => e.consent === 'withdrawn'))
    settle(withdrawal, excluded(Reasons.noConsent, NOT_IN_AUDIENCES));
  return { payloads: out.filter((e) => e.consent !== 'withdrawn').map((e) => e.payload), settlements };
};

/** The payload one profile maps to, or why it would not be sent (for `send-test`). */
export const mapOnce = async (
  chain: readonly ChainLink[],
  raw: unknown,
  context: OperatorContext,
): Promise<JsonObject | string> => {
  const { payloads, settlements } = await mapMessage(chain, raw, context);
  const outcome = settlements[0]?.outcome;
  if (payloads[0]) return payloads[0];
  return outcome && (outcome.kind === 'excluded' || outcome.kind === 'failed')
    ? `${outcome.kind} ${outcome.reason}: ${outcome.detail ?? ''}`
    : 'no outcome';
};
