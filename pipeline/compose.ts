import { lastValueFrom, of, toArray, type Observable, type OperatorFunction } from 'rxjs';
import type { JsonObject } from '../operators/model/json.js';
import { Ledger } from '../operators/model/ledger.js';
import { envelopeOf } from './runner.js';
import { decode } from '../operators/decode.js';
import { dedupe, DedupeOptions } from '../operators/dedupe.js';
import { emit, EmitOptions } from '../operators/emit.js';
import { decodeOrThrow } from '../operators/model/codecs.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Envelope } from '../operators/model/envelope.js';
import { projectAttributes } from '../operators/project-attributes.js';
import { qualify } from '../operators/qualify.js';
import { selectIdentity } from '../operators/select-identity.js';
import type { Config } from './config/codec.js';
import type { LoadedPlugin } from './plugins.js';

/**
 * The operator chain a config describes, in the order of DESIGN.md's flow, with each plug-in placed
 * right after the built-in it names (plug-ins naming the same one keep their config order).
 */
export const operatorsFor = (config: Config, context: OperatorContext, plugins: readonly LoadedPlugin[] = []): OperatorFunction<Envelope, Envelope>[] => {
  const builtIns: Array<[string, OperatorFunction<Envelope, Envelope>]> = [
    ['decode', decode()],
    ['qualify', qualify({ audiences: config.audiences, statuses: config.statuses })],
    ['selectIdentity', selectIdentity({ identities: config.identities })],
    ['projectAttributes', projectAttributes({ attributes: config.attributes })],
    ['dedupe', dedupe(decodeOrThrow(DedupeOptions, config.dedupe), context)],
    ['emit', emit(decodeOrThrow(EmitOptions, { concurrency: config.destination.concurrency, retry: config.destination.retry }), context)],
  ];
  return builtIns.flatMap(([name, operator]) => [
    operator,
    ...plugins.filter((plugin) => plugin.after === name).map((plugin) => plugin.definition.create(plugin.options, context)),
  ]);
};

/** Runs `envelopes` through `operators`, first to last. */
export const compose = (envelopes: Observable<Envelope>, operators: readonly OperatorFunction<Envelope, Envelope>[]): Observable<Envelope> =>
  operators.reduce((stream, operator) => operator(stream), envelopes);

/**
 * Maps one raw profile the way the pipeline would, up to (not including) dedupe and emit: the payload,
 * or why it would not be sent. For `send-test` and declarative tests.
 */
export const mapOnce = async (config: Config, raw: unknown): Promise<JsonObject | string> => {
  const ledger = new Ledger();
  let why = 'no outcome';
  ledger.settlements$.subscribe(({ outcome }) => {
    why = outcome.kind === 'excluded' || outcome.kind === 'failed' ? `${outcome.kind} ${outcome.reason}: ${outcome.detail ?? ''}` : outcome.kind;
  });
  const envelope = envelopeOf({ data: raw }, ledger, 'map-once', () => '0-0');
  const out = await lastValueFrom(
    of(envelope).pipe(
      decode(),
      qualify({ audiences: config.audiences, statuses: config.statuses }),
      selectIdentity({ identities: config.identities }),
      projectAttributes({ attributes: config.attributes }),
      toArray(),
    ),
  );
  return out[0]?.payload ?? why;
};
