import * as t from 'io-ts';
import { EMPTY, catchError, defer, from, map, mergeMap, type OperatorFunction } from 'rxjs';
import { integerIn, struct, withDefault } from './model/codecs.js';
import { defineOperator, type OperatorContext } from './model/define.js';
import { settle, type Envelope } from './model/envelope.js';
import { delivered, failed, httpReason, Reasons, type Outcome } from './model/outcome.js';
import { serializePayload } from './model/payload.js';
import type { SendResult } from './model/ports.js';

/** Qualtrics refuses JSON Event payloads over 100 KB; counted in bytes of UTF-8, 100,000 to stay safe. */
export const MAX_PAYLOAD_BYTES = 100_000;

export const EmitOptions = struct('EmitOptions', {
  /** Requests in flight at once. */
  concurrency: withDefault(integerIn(1, 256), 8),
  /** Payloads larger than this are failed as `payload-too-large` and not sent. */
  maxPayloadBytes: withDefault(integerIn(1, MAX_PAYLOAD_BYTES), MAX_PAYLOAD_BYTES),
});
export type EmitOptions = t.TypeOf<typeof EmitOptions>;

const MAX_DETAIL = 500;
const cut = (text: string): string => (text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}...` : text);

const outcomeOf = (result: SendResult): Outcome =>
  result.status >= 200 && result.status < 300
    ? delivered(result.status)
    : failed(httpReason(result.status), { status: result.status, detail: cut(result.body), attempts: 1 });

/**
 * The sink: posts each payload (serialized as on the connector page) to the Qualtrics JSON Event and
 * settles its envelope: a 2xx is `delivered`, any other answer `failed` with reason `http-<status>`, a
 * network error or timeout `failed` with `network-error`. Emits nothing: every envelope ends here.
 *
 * @example
 * profiles$.pipe(emit({ concurrency: 8, maxPayloadBytes: 100000 }, { sender })).subscribe()
 */
export const emit =
  (options: EmitOptions, { sender }: Pick<OperatorContext, 'sender'>): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    source.pipe(
      mergeMap((envelope) => {
        const body = serializePayload(envelope.payload);
        const bytes = Buffer.byteLength(body);
        if (bytes > options.maxPayloadBytes) {
          settle(envelope, failed(Reasons.payloadTooLarge, { detail: `${bytes} bytes, the limit is ${options.maxPayloadBytes}`, attempts: 0 }));
          return EMPTY;
        }
        return defer(() => from(sender.send(body))).pipe(
          map(outcomeOf),
          catchError((error: unknown) => [failed(Reasons.networkError, { detail: cut((error as Error).message ?? String(error)), attempts: 1 })]),
          mergeMap((outcome) => {
            settle(envelope, outcome);
            return EMPTY;
          }),
        );
      }, options.concurrency),
    );

export const emitOperator = defineOperator({
  name: 'emit',
  summary: 'post each payload to the Qualtrics JSON Event and settle it',
  options: EmitOptions,
  create: (options, context) => emit(options, context),
});
