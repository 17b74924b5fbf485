import type { Observable, OperatorFunction } from 'rxjs';
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

/** The operator chain a config describes, in the order of DESIGN.md's flow. */
export const operatorsFor = (config: Config, context: OperatorContext): OperatorFunction<Envelope, Envelope>[] => [
  decode(),
  qualify({ audiences: config.audiences, statuses: config.statuses }),
  selectIdentity({ identities: config.identities }),
  projectAttributes({ attributes: config.attributes }),
  dedupe(decodeOrThrow(DedupeOptions, config.dedupe), context),
  emit(decodeOrThrow(EmitOptions, { concurrency: config.destination.concurrency, retry: config.destination.retry }), context),
];

/** Runs `envelopes` through `operators`, first to last. */
export const compose = (envelopes: Observable<Envelope>, operators: readonly OperatorFunction<Envelope, Envelope>[]): Observable<Envelope> =>
  operators.reduce((stream, operator) => operator(stream), envelopes);
