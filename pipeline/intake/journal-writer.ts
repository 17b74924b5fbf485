import { messageOf } from '../../operators/model/errors.js';
import { backoffMs, STORE_OUTAGE_BACKOFF } from '../../operators/model/backoff.js';
import type { StreamJournal } from '../../adapters/redis/journal.js';
import type { ProducedMessage } from '../../adapters/websocket/listen-source.js';
import type { Logger } from '../logger.js';
import type { IntakeValve } from '../valve.js';

/** Why the WebSocket intake in front of a journal is paused. */
export const JournalPause = {
  full: 'journal-full',
  unavailable: 'journal-unavailable',
  backlog: 'journal-backlog',
} as const;

export interface JournalWriterOptions {
  /** Messages per append script at most. */
  readonly batchSize?: number;
  /** Messages waiting to be appended at which the intake pauses (it resumes below half). */
  readonly backlog?: number;
  /** How often to try again while the journal is full. */
  readonly fullRetryMs?: number;
  /** The identity key of each profile in a message (null: none), so the journal can number people's lines. */
  readonly keysOf?: (data: Buffer) => ReadonlyArray<string | null> | undefined;
  /**
   * How long an append may go unanswered (a Redis that stopped answering without closing the
   * connection) before the intake pauses and the producers waiting for it are told "not stored, retry".
   */
  readonly appendTimeoutMs?: number;
}

const toBuffer = (data: unknown): Buffer =>
  Buffer.isBuffer(data)
    ? data
    : Array.isArray(data)
      ? Buffer.concat(data as Buffer[])
      : data instanceof ArrayBuffer
        ? Buffer.from(data)
        : Buffer.from(String(data));

/** Resolves as `work` does, or rejects once `ms` passed without an answer (the work itself goes on). */
const answeredWithin = <T>(work: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

/**
 * Appends WebSocket messages to the journal strictly in arrival order. Messages queue here and go out
 * in batches, one batch at a time: a batch that fails (Redis down) or does not fit (journal full) is
 * tried again, from its first message not yet appended, before anything after it. A producer that
 * asked for acknowledgements hears `ack` once its message is appended, not before.
 *
 * The valve pauses the WebSocket while the journal is full, while Redis refuses appends, and while too
 * many messages wait here; each reason clears by itself when it no longer holds.
 */
export class JournalWriter {
  readonly #queue: ProducedMessage[] = [];
  readonly #batchSize: number;
  readonly #backlog: number;
  readonly #fullRetryMs: number;
  readonly #keysOf: JournalWriterOptions['keysOf'];
  readonly #appendTimeoutMs: number;
  #pumping: Promise<void> | undefined;
  /** Messages at the head of the queue being appended now: not to be withdrawn. */
  #appending = 0;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(
    private readonly journal: StreamJournal,
    private readonly valve: IntakeValve,
    private readonly logger: Logger,
    { batchSize = 500, backlog = 1000, fullRetryMs = 200, keysOf, appendTimeoutMs = 5000 }: JournalWriterOptions = {},
  ) {
    this.#appendTimeoutMs = appendTimeoutMs;
    this.#keysOf = keysOf;
    this.#batchSize = batchSize;
    this.#backlog = backlog;
    this.#fullRetryMs = fullRetryMs;
  }

  /** Messages received and not yet appended. */
  get waiting(): number {
    return this.#queue.length;
  }

  write(message: ProducedMessage): void {
    if (this.#closed) {
      message.reply?.(false, 'not taking input');
      return;
    }
    this.#queue.push(message);
    if (this.#queue.length >= this.#backlog) {
      this.valve.close(JournalPause.backlog, `${this.#queue.length} messages waiting to be appended to the journal`);
    }
    this.#pumping ??= this.#pump().finally(() => (this.#pumping = undefined));
  }

  /**
   * Takes a message back that is still waiting, not yet being appended: true if it was (it will never be
   * appended, and its producer can be told so), false if it is already on its way.
   */
  withdraw(message: ProducedMessage): boolean {
    const index = this.#queue.indexOf(message);
    // Not in the queue (already appended, or never written), or in the batch being appended now.
    if (index === -1 || index < this.#appending) return false;
    this.#queue.splice(index, 1);
    // Nothing left to append, so nothing would find out when the journal has room again: look for it.
    if (this.#queue.length === 0) this.#pumping ??= this.#recheck().finally(() => (this.#pumping = undefined));
    return true;
  }

  /**
   * Stops appending. Messages not yet appended are refused to producers that listen for answers (they
   * resend them); the others are lost, and their count is returned so the caller can say so.
   */
  async close(): Promise<number> {
    this.#closed = true;
    this.#wake?.();
    await this.#pumping;
    const left = this.#queue.splice(0);
    for (const message of left) message.reply?.(false, 'not taking input');
    return left.filter((message) => message.reply === undefined).length;
  }

  async #pump(): Promise<void> {
    let failures = 0;
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue.slice(0, this.#batchSize);
      this.#appending = batch.length;
      let refused: string | undefined;
      let full = false;
      // Producers told "not stored" while this append went unanswered: they send again, so whatever
      // becomes of it, the writer does not append them a second time.
      const handedBack = new Set<ProducedMessage>();
      const slow = setTimeout(() => this.#handBack(batch, handedBack), this.#appendTimeoutMs);
      try {
        const result = await this.journal.append(
          batch.map((message) => {
            const data = toBuffer(message.data);
            return { data, keys: this.#keysOf?.(data) };
          }),
        );
        // Whatever went in is safe, and said so, even when Redis refused what came after it.
        for (const message of this.#queue.splice(0, result.appended))
          if (!handedBack.has(message)) message.reply?.(true);
        if (this.#queue.length < this.#backlog / 2) this.valve.open(JournalPause.backlog);
        ({ refused, full } = result);
      } catch (error) {
        refused = messageOf(error);
      } finally {
        clearTimeout(slow);
      }
      // What was handed back and did not go in is its producer's to send again.
      if (handedBack.size > 0)
        this.#queue.splice(0, this.#queue.length, ...this.#queue.filter((m) => !handedBack.has(m)));
      this.#appending = 0;
      let wait = 0;
      if (refused !== undefined) {
        failures += 1;
        wait = backoffMs(failures, STORE_OUTAGE_BACKOFF);
        this.valve.close(JournalPause.unavailable, `appending to the journal failed: ${refused}`);
        const waiting = this.#queue.length;
        this.logger.warn({ error: refused, retryInMs: wait, waiting }, 'journal append failed; retrying');
      } else {
        failures = 0;
        this.valve.open(JournalPause.unavailable);
        if (full) {
          const limit = this.journal.maxLength ?? 0;
          this.valve.close(JournalPause.full, `the journal holds ${limit} entries the pipeline has not finished`);
          wait = this.#fullRetryMs;
        } else {
          this.valve.open(JournalPause.full);
        }
      }
      if (wait > 0) await this.#sleep(wait);
    }
    // Emptied while paused (what waited was taken back): keep looking for room, or the pause never ends.
    if (this.#queue.length === 0 && !this.#closed) await this.#recheck();
  }

  /**
   * With nothing to append but the intake paused (the journal full, Redis refusing), asks the journal
   * how long it is until that no longer holds, so the intake reopens by itself. New messages take over.
   */
  async #recheck(): Promise<void> {
    let failures = 0;
    const { full, unavailable } = JournalPause;
    while (
      !this.#closed &&
      this.#queue.length === 0 &&
      (this.valve.reasons.has(full) || this.valve.reasons.has(unavailable))
    ) {
      try {
        const length = await answeredWithin(this.journal.length(), this.#appendTimeoutMs, 'Redis');
        failures = 0;
        this.valve.open(unavailable);
        if (this.journal.maxLength === undefined || length < this.journal.maxLength) this.valve.open(full);
      } catch (error) {
        failures += 1;
        this.valve.close(unavailable, `the journal does not answer: ${messageOf(error)}`);
      }
      await this.#sleep(failures > 0 ? backoffMs(failures, STORE_OUTAGE_BACKOFF) : this.#fullRetryMs);
    }
    // A new message came: the pump takes over from here (it is the one that appends).
    if (this.#queue.length > 0 && !this.#closed) await this.#pump();
  }

  /**
   * An append Redis leaves unanswered: the intake pauses (new producers are refused at once), and the
   * producers of the batch that can send again are told "not stored" now rather than kept waiting. The
   * append itself goes on: it may still land when Redis wakes, and their second copy is then counted as
   * a duplicate, never sent twice. Producers that cannot send again stay, to be appended by the writer.
   */
  #handBack(batch: readonly ProducedMessage[], handedBack: Set<ProducedMessage>): void {
    this.valve.close(JournalPause.unavailable, `Redis has not answered an append for ${this.#appendTimeoutMs} ms`);
    for (const message of batch)
      if (message.reply) {
        handedBack.add(message);
        message.reply(false, `Redis did not answer within ${this.#appendTimeoutMs} ms`);
      }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
