import { lastValueFrom, of, toArray, type Observable, type OperatorFunction } from 'rxjs';
import type { JsonObject } from '../operators/model/json.js';
import { Ledger, type Settlement } from '../operators/model/ledger.js';
import { envelopeOf } from './runner.js';
import { decode } from '../operators/decode.js';
import { dedupe, DedupeOptions } from '../operators/dedupe.js';
import { emit, EmitOptions } from '../operators/emit.js';
import { decodeOrThrow } from '../operators/model/codecs.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Envelope } from '../operators/model/envelope.js';
import { projectAttributes } from '../operators/project-attributes.js';
import { qualify } from '../operators/qualify.js';
import { keepOrder, KeepOrderOptions } from '../operators/keep-order.js';
import { selectIdentity } from '../operators/select-identity.js';
import type { Config } from './config/codec.js';
import type { LoadedPlugin } from './plugins.js';

type Named = readonly [string, OperatorFunction<Envelope, Envelope>];

const withPlugins = (builtIns: readonly Named[], context: OperatorContext, plugins: readonly LoadedPlugin[]): OperatorFunction<Envelope, Envelope>[] =>
  builtIns.flatMap(([name, operator]) => [
    operator,
    ...plugins.filter((plugin) => plugin.after === name).map((plugin) => plugin.definition.create(plugin.options, context)),
  ]);

const mappingBuiltIns = (config: Config): Named[] => [
  ['decode', decode()],
  ['qualify', qualify({ audiences: config.audiences, statuses: config.statuses })],
  ['selectIdentity', selectIdentity({ identities: config.identities })],
  ['projectAttributes', projectAttributes({ attributes: config.attributes })],
];

/**
 * The operator chain a config describes, in the order of DESIGN.md's flow, with each plug-in placed
 * right after the built-in it names (plug-ins naming the same one keep their config order).
 */
export const operatorsFor = (config: Config, context: OperatorContext, plugins: readonly LoadedPlugin[] = []): OperatorFunction<Envelope, Envelope>[] =>
  withPlugins(
    [
      ...mappingBuiltIns(config),
      // Not a place for plug-ins: it only holds an update back until its person's earlier ones are done.
      ['keepOrder', keepOrder(decodeOrThrow(KeepOrderOptions, {}), context)],
      ['dedupe', dedupe(decodeOrThrow(DedupeOptions, config.dedupe), context)],
      ['emit', emit(decodeOrThrow(EmitOptions, { concurrency: config.destination.concurrency, retry: config.destination.retry }), context)],
    ],
    context,
    plugins,
  );

/** What mapping one message came to: the payloads it would send, and the updates it would not. */
export interface Mapped {
  readonly payloads: readonly JsonObject[];
  readonly settlements: readonly Settlement[];
}

/**
 * Maps one raw message the way the pipeline would, up to (not including) dedupe and emit, with the
 * plug-ins placed there: nothing is sent and nothing is remembered. For `send-test` and `test`.
 */
export const mapMessage = async (config: Config, raw: unknown, context: OperatorContext, plugins: readonly LoadedPlugin[] = []): Promise<Mapped> => {
  const ledger = new Ledger();
  const settlements: Settlement[] = [];
  ledger.settlements$.subscribe((settlement) => settlements.push(settlement));
  const envelope = envelopeOf({ data: raw }, ledger, 'map', () => '0-0');
  const out = await lastValueFrom(compose(of(envelope), withPlugins(mappingBuiltIns(config), context, plugins)).pipe(toArray()));
  return { payloads: out.map((e) => e.payload), settlements };
};

/** Runs `envelopes` through `operators`, first to last. */
export const compose = (envelopes: Observable<Envelope>, operators: readonly OperatorFunction<Envelope, Envelope>[]): Observable<Envelope> =>
  operators.reduce((stream, operator) => operator(stream), envelopes);

/** The payload one profile maps to, or why it would not be sent (for `send-test`). */
export const mapOnce = async (config: Config, raw: unknown, context: OperatorContext, plugins: readonly LoadedPlugin[] = []): Promise<JsonObject | string> => {
  const { payloads, settlements } = await mapMessage(config, raw, context, plugins);
  const outcome = settlements[0]?.outcome;
  if (payloads[0]) return payloads[0];
  return outcome && (outcome.kind === 'excluded' || outcome.kind === 'failed') ? `${outcome.kind} ${outcome.reason}: ${outcome.detail ?? ''}` : 'no outcome';
};
