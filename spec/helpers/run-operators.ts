import { from, lastValueFrom, defaultIfEmpty, type ObservableInput } from 'rxjs';
import type { OperatorContext } from '../../operators/model/define.js';
import type { LedgerCounts, Settlement } from '../../operators/model/ledger.js';
import { Ledger } from '../../operators/model/ledger.js';
import type { SendResult } from '../../operators/model/ports.js';
import type { Config } from '../../pipeline/config/codec.js';
import { chainOf, compose } from '../../pipeline/chain.js';
import { envelopeOf } from '../../pipeline/runner.js';
import type { LoadedPlugin } from '../../pipeline/plugins.js';
import { testContext } from './contexts.js';

export interface OperatorRun {
  readonly counts: LedgerCounts;
  readonly settlements: readonly Settlement[];
  readonly bodies: readonly string[];
}

/**
 * Runs raw messages through a config's whole operator chain in memory, with `answer` playing the
 * destination. No network: for golden payloads and accounting properties.
 */
export const runOperators = async (
  config: Config,
  messages: readonly unknown[],
  answer: (body: string) => ObservableInput<SendResult> = () => [{ status: 202, body: '' }],
  plugins: readonly LoadedPlugin[] = [],
): Promise<OperatorRun> => {
  const ledger = new Ledger();
  const settlements: Settlement[] = [];
  const bodies: string[] = [];
  ledger.settlements$.subscribe((s) => settlements.push(s));
  const context: OperatorContext = testContext(undefined, {
    sender: { send: (body) => (bodies.push(body), answer(body)) },
  });
  const envelopes = from(
    messages.map((data, index) => envelopeOf({ data, position: String(index + 1) }, ledger, 'test', () => 'unused')),
  );
  await lastValueFrom(compose(envelopes, chainOf(config.flows[0]!, plugins), context).pipe(defaultIfEmpty(undefined)));
  return { counts: await ledger.whenSettled(), settlements, bodies };
};
