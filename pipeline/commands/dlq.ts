import { messageOf } from '../../operators/model/errors.js';
import { from, map } from 'rxjs';
import { fromDeadLetterOperator } from '../../operators/from-dead-letter.js';
import { Ledger, type LedgerCounts } from '../../operators/model/ledger.js';
import type { Config, FlowConfig } from '../config/codec.js';
import type { Logger } from '../logger.js';
import { maskIdentity } from '../mask.js';
import { formatTable } from '../table.js';
import { chainOf, sendingPart, type ChainLink } from '../chain.js';
import { startPipeline } from '../runner.js';
import { type FlowCore, wireOneFlow } from '../wire.js';

/** The fields of a dead letter that are shown and chosen by. */
export interface Letter {
  readonly at?: string;
  readonly reason?: string;
  readonly status?: number;
  readonly attempts?: number;
  readonly identity?: string;
  readonly response?: string;
  readonly position?: string;
}

const REMOVE_BATCH = 100;

/** `email:ann@example.com`, as a letter keeps it, masked the way `history` shows identities. */
const maskKey = (key: string | undefined): string => {
  const colon = key?.indexOf(':') ?? -1;
  if (key === undefined || colon <= 0) return key === undefined ? '' : '***';
  const target = key.slice(0, colon) === 'email' ? 'email' : 'external_id';
  return maskIdentity({ namespace: key.slice(0, colon), target, id: key.slice(colon + 1) }) ?? '';
};
const cut = (text: string | undefined, max = 80): string =>
  text === undefined ? '' : text.length > max ? `${text.slice(0, max - 3)}...` : text;

export interface DlqQuery {
  /** Only letters with this reason (`http-400`). */
  readonly reason?: string;
  /** At most this many, oldest first. */
  readonly limit?: number;
  /** One JSON object a line instead of a table. */
  readonly json?: boolean;
}

/** `dlq list`: every dead letter with its reason, status, attempts, (masked) identity and answer. */
export const dlqList = async (
  config: Config,
  flow: FlowConfig,
  logger: Logger,
  query: DlqQuery = {},
): Promise<string> => {
  // Listing sends nothing: a flow refused for a data-usage policy may still show what it holds.
  const core = wireOneFlow(config, flow, logger, new Ledger(), { sends: false });
  try {
    const all = await core.deadLetters.entries();
    const matching = all.filter(
      ({ letter }) => query.reason === undefined || (letter as Letter).reason === query.reason,
    );
    const entries = matching.slice(0, query.limit ?? matching.length);
    const shown = entries.map(({ id, letter }) => {
      const l = letter as Letter;
      return {
        id,
        at: l.at ?? '',
        reason: l.reason ?? '',
        http: l.status === undefined ? '' : String(l.status),
        attempts: l.attempts === undefined ? '' : String(l.attempts),
        identity: maskKey(l.identity),
        response: cut(l.response),
      };
    });
    if (query.json) return shown.map((row) => `${JSON.stringify(row)}\n`).join('');
    if (entries.length === 0)
      return query.reason === undefined ? 'no dead letters\n' : `no dead letters with reason ${query.reason}\n`;
    const byReason = new Map<string, number>();
    for (const { reason } of shown) byReason.set(reason || '?', (byReason.get(reason || '?') ?? 0) + 1);
    const summary = [...byReason].map(([reason, n]) => `${reason} ${n}`).join(', ');
    const more = matching.length > entries.length ? ` (of ${matching.length})` : '';
    const table = formatTable(
      ['id', 'at', 'reason', 'http', 'attempts', 'identity', 'response'],
      shown.map((row) => Object.values(row)),
    );
    return `${table}${entries.length}${more} dead letter(s): ${summary}\n`;
  } finally {
    await core.close();
  }
};

/** What a redrive needs of a flow: its dead letters and the context its operators send with. */
export type RedriveCore = Pick<FlowCore, 'deadLetters' | 'context'>;

/**
 * Sends the chosen dead letters again, exactly as they were, through dedupe, the rate limit, the
 * retries and the stale-update rule. Each letter is removed once its new outcome is final (a new failure
 * writes a new letter first), in batches, so an interrupted redrive loses nothing. The console calls it
 * with the running flow's core (its rate limit is the one the flow shares); `dlq redrive` with its own.
 */
export const redriveLetters = async (
  core: RedriveCore,
  flow: FlowConfig,
  logger: Logger,
  chosen: (id: string, letter: unknown) => boolean,
  /** The outcomes are recorded here: the console watches its settlements to write the run history. */
  ledger = new Ledger(),
): Promise<{ counts: LedgerCounts; removed: number }> => {
  const entries = (await core.deadLetters.entries()).filter(({ id, letter }) => chosen(id, letter));
  // Removed in batches once their new outcome is final: an interrupted redrive leaves at most one
  // batch of letters that were already redriven, and sending those again is caught by dedupe.
  let removed = 0;
  let batch: string[] = [];
  const removals: Array<Promise<void>> = [];
  const flush = (): void => {
    if (batch.length === 0) return;
    const ids = batch;
    batch = [];
    removals.push(
      core.deadLetters.remove(ids).then(
        () => {
          removed += ids.length;
        },
        (error: unknown) => logger.warn({ ids, error: messageOf(error) }, 'could not remove redriven dead letters'),
      ),
    );
  };
  const source = from(entries).pipe(
    map(({ id, letter }) => ({
      data: letter,
      position: (letter as Letter).position ?? id,
      ack: () => {
        batch.push(id);
        if (batch.length >= REMOVE_BATCH) flush();
      },
    })),
  );
  // A letter holds the payload as it was mapped: it goes straight to dedupe and emit, as configured.
  const redrive: ChainLink = {
    ...fromDeadLetterOperator,
    create: (context) => fromDeadLetterOperator.create({}, context),
  };
  const chain = [redrive, ...sendingPart(chainOf(flow))];
  const counts = await startPipeline({ ledger, sourceName: 'dead-letters', source, chain, context: core.context }).done;
  flush();
  await Promise.all(removals);
  return { counts, removed };
};

/** `dlq redrive`: every dead letter (or those of one reason) sent again, see `redriveLetters`. */
export const dlqRedrive = async (
  config: Config,
  flow: FlowConfig,
  logger: Logger,
  reason?: string,
): Promise<{ counts: LedgerCounts; removed: number }> => {
  const ledger = new Ledger();
  const core = wireOneFlow(config, flow, logger, ledger);
  try {
    return await redriveLetters(
      core,
      flow,
      logger,
      (_, letter) => reason === undefined || (letter as Letter).reason === reason,
      ledger,
    );
  } finally {
    await core.close();
  }
};
