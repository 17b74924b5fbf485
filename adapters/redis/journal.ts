import { Observable, timer } from 'rxjs';
import type { Redis } from './connection.js';
import { nextId } from './stream-entries.js';

export interface StreamJournalOptions {
  readonly redis: Redis;
  readonly stream: string;
  /** The consumer group that reads the journal: what it has acknowledged may be trimmed. */
  readonly group: string;
  readonly field: string;
  /** Keep at most about this many entries; unacknowledged entries are never trimmed. */
  readonly maxLength?: number;
}

/**
 * The durable intake: every update received over a WebSocket is appended (XADD) here first, and the
 * pipeline consumes the stream as a consumer group, so a crash or restart loses nothing received.
 *
 * Trimming never loses work: at `maxLength`, only entries the group has acknowledged are removed
 * (XTRIM MINID up to its oldest pending or undelivered entry). If the unacknowledged entries alone
 * reach `maxLength`, `full` is true and the intake should wait for the pipeline to catch up.
 */
export class StreamJournal {
  /** The stream's length as last measured, plus what was appended since: known without a round trip. */
  #length = 0;

  constructor(private readonly options: StreamJournalOptions) {}

  get maxLength(): number | undefined {
    return this.options.maxLength;
  }

  /** At or over `maxLength` (as far as this process knows): the intake should wait. */
  get full(): boolean {
    return this.options.maxLength !== undefined && this.#length >= this.options.maxLength;
  }

  /** Appends one received message; resolves with its entry id once Redis has it. */
  async append(data: string | Buffer): Promise<string> {
    const { redis, stream, field } = this.options;
    const id = await redis.xadd(stream, '*', field, data);
    this.#length += 1;
    return id!;
  }

  /**
   * Trims what the group has acknowledged when over `maxLength`, then answers whether the journal is
   * still full. Without `maxLength` the journal is kept whole (it is also the history replay reads).
   */
  async trim(): Promise<boolean> {
    const { redis, stream, maxLength } = this.options;
    if (maxLength === undefined) return false;
    if ((await redis.xlen(stream)) >= maxLength) {
      const safe = await this.#oldestUnacknowledged();
      if (safe) await redis.xtrim(stream, 'MINID', safe);
    }
    this.#length = await redis.xlen(stream);
    return this.full;
  }

  /** Trims every `everyMs` while subscribed; emits whether the journal is full after each pass. */
  trimming(everyMs = 1000): Observable<boolean> {
    return new Observable<boolean>((subscriber) =>
      timer(0, everyMs).subscribe(() => {
        this.trim().then(
          (full) => subscriber.next(full),
          () => {},
        );
      }),
    );
  }

  /** The first id the group still needs: its oldest pending entry, or the one after the last it read. */
  async #oldestUnacknowledged(): Promise<string | undefined> {
    const { redis, stream, group } = this.options;
    const groups = (await redis.xinfo('GROUPS', stream)) as Array<Array<string | number>>;
    const info = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g.name === group);
    if (!info) return undefined;
    const [count, oldestPending] = (await redis.xpending(stream, group)) as [number, string | null, string | null, unknown];
    return count > 0 && oldestPending ? oldestPending : nextId(String(info['last-delivered-id']));
  }
}
