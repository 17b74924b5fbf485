/**
 * Waiting on events and counts, not fixed sleeps: `until` polls a condition (async ones included:
 * an HTTP probe, a Redis command) and fails with what it waited for; `Sampler` watches a value over
 * a phase of a scenario (the journal's length, /readyz) so a test can assert on all it saw.
 */

/**
 * Resolves once `predicate` holds, checking every `everyMs`; rejects after `timeoutMs` naming `what`
 * (a function is asked at the time out, so it can say how far things got).
 */
export const until = async (
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  everyMs = 100,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
};

/** Resolves after `ms`: only for a fault that lasts a set time (an outage of 20 s), never to wait for work. */
export const lasting = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes a sample every `everyMs` while running (one at a time: a slow probe is not stacked). */
export class Sampler<T> {
  readonly samples: Array<{ readonly at: number; readonly value: T }> = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(probe: () => Promise<T> | T, everyMs = 200) {
    this.#done = (async () => {
      while (this.#running) {
        const value = await probe();
        this.samples.push({ at: Date.now(), value });
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    })();
  }

  /** Stops sampling and resolves with every value seen. */
  async stop(): Promise<T[]> {
    this.#running = false;
    await this.#done;
    return this.samples.map((s) => s.value);
  }

  get values(): T[] {
    return this.samples.map((s) => s.value);
  }
}

/** Anything that records the requests it accepted: the counting endpoint. */
interface Accepting {
  accepted(): ReadonlyArray<{ readonly body: string }>;
}

/** Anything that can tell whether it has settled what it received: a fault run. */
interface Settling {
  settled(received: number): Promise<boolean>;
}

/**
 * Resolves once `endpoint` accepted `count` distinct payloads, or once `run` settled `received` updates
 * with fewer delivered (then waiting longer is waiting for nothing: the checker will say what is missing).
 * Rejects after `timeoutMs`. Distinct, because a payload accepted twice (sent again after a kill between
 * the 2xx and its record, which a scenario may allow) is one update delivered: counting requests ended
 * the wait one update early, and the stop that followed released that update unsent.
 */
export const deliveredOrSettled = (
  endpoint: Accepting,
  run: Settling,
  count: number,
  timeoutMs: number,
  received = count,
): Promise<void> =>
  until(
    async () => new Set(endpoint.accepted().map((a) => a.body)).size >= count || (await run.settled(received)),
    timeoutMs,
    `${count} deliveries (or every update settled)`,
    250,
  );
