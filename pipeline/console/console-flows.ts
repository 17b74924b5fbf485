import type { Redis } from '../../adapters/redis/connection.js';
import { messageOf } from '../../operators/model/errors.js';
import { Ledger } from '../../operators/model/ledger.js';
import type { AlertEvent, AlertMonitor } from '../alerts.js';
import { redriveLetters, type Letter } from '../commands/dlq.js';
import type { Config, FlowConfig } from '../config/codec.js';
import { CREDIT } from '../credit.js';
import { type ActionEntry, namedRunEntryOf } from '../history.js';
import { groupOf } from '../intake.js';
import type { Logger } from '../logger.js';
import type { PipelineMetrics } from '../metrics.js';
import type { FlowCore } from '../wire.js';
import type { Principal } from './access-gate.js';
import type { MinuteCounts } from './minute-counts.js';

/** The valve reasons the console closes: a person paused the flow (manage), or turned it off (activate). */
export const PAUSED = 'paused';
export const DISABLED = 'disabled';

/** Alert events kept per flow for the console's "recent alerts". */
const RECENT_ALERTS = 50;

/** One running flow as the console sees it. */
export interface ConsoleFlow {
  readonly flow: FlowConfig;
  readonly ledger: Ledger;
  readonly core: FlowCore;
  readonly minutes: MinuteCounts;
  alerts: AlertMonitor | undefined;
  /** Newest first. */
  readonly recentAlerts: AlertEvent[];
}

/** What the console reads and acts on: the config, the running flows, the process's metrics. */
export interface ConsoleModel {
  readonly config: Config;
  readonly flows: readonly ConsoleFlow[];
  readonly metrics: PipelineMetrics;
  readonly redis: Redis | undefined;
  readonly logger: Logger;
}

/** Remembers a flow's alert events for the console (newest first, a few). */
export const recordAlert = (flow: Pick<ConsoleFlow, 'recentAlerts'>, event: AlertEvent): void => {
  flow.recentAlerts.unshift(event);
  flow.recentAlerts.splice(RECENT_ALERTS);
};

export type FlowState =
  | { readonly kind: 'running'; readonly detail: string }
  | { readonly kind: 'paused'; readonly detail: string }
  | { readonly kind: 'held'; readonly detail: string }
  | { readonly kind: 'disabled'; readonly detail: string };

/**
 * Whether the flows read one plain WebSocket feed together (no journal, no Redis stream, several flows):
 * then the feed pauses while any flow is paused or turned off, and every other flow waits with it.
 */
export const sharesPlainFeed = (model: Pick<ConsoleModel, 'config' | 'flows'>): boolean =>
  model.config.journal === undefined &&
  model.config.source.redisStream === undefined &&
  model.config.source.websocket !== undefined &&
  model.flows.length > 1;

/** The other flows whose pause or turn-off holds the shared plain feed (none when the feed is not shared). */
export const feedHeldBy = (model: Pick<ConsoleModel, 'config' | 'flows'>, running: ConsoleFlow): string[] =>
  sharesPlainFeed(model)
    ? model.flows
        .filter((other) => other !== running)
        .filter(({ core }) => core.valve.reasons.has(PAUSED) || core.valve.reasons.has(DISABLED))
        .map(({ flow }) => flow.name)
    : [];

/**
 * Running, paused (and why: every reason holding its valve), held (its own valve open, but the plain
 * feed it shares is paused by another flow), or disabled (in the config or at run time).
 */
export const stateOf = (
  running: ConsoleFlow | undefined,
  model?: Pick<ConsoleModel, 'config' | 'flows'>,
): FlowState => {
  if (!running) return { kind: 'disabled', detail: 'enabled: false in the config' };
  const reasons = running.core.valve.reasons;
  const disabled = reasons.get(DISABLED);
  if (disabled !== undefined) return { kind: 'disabled', detail: disabled };
  const holding = [...reasons].filter(([reason]) => reason !== CREDIT);
  if (holding.length > 0)
    return { kind: 'paused', detail: holding.map(([reason, why]) => `${reason}: ${why}`).join('; ') };
  const heldBy = model ? feedHeldBy(model, running) : [];
  if (heldBy.length > 0) return { kind: 'held', detail: `held: the shared feed is paused by ${heldBy.join(', ')}` };
  return reasons.has(CREDIT)
    ? { kind: 'running', detail: `at capacity (${reasons.get(CREDIT)})` }
    : { kind: 'running', detail: 'taking input' };
};

/** Why the flow's dead letters cannot be redriven now (its intake paused or turned off by a person), if so. */
export const redriveRefusal = (running: ConsoleFlow): string | undefined => {
  const why = running.core.valve.reasons.get(PAUSED) ?? running.core.valve.reasons.get(DISABLED);
  return why === undefined
    ? undefined
    : `flow ${running.flow.name} is ${why}: resume it (or turn it on) before redriving its dead letters`;
};

/** Updates waiting in the flow's consumer group (a journal or a Redis stream), when it reads one. */
export const pendingOf = async (model: ConsoleModel, flow: FlowConfig): Promise<number | undefined> => {
  const { config, redis } = model;
  const stream = config.journal?.stream ?? config.source.redisStream?.stream;
  const group = config.journal?.group ?? config.source.redisStream?.group;
  if (!redis || stream === undefined || group === undefined) return undefined;
  try {
    const [count] = (await redis.xpending(stream, groupOf(config, flow, group))) as [number, ...unknown[]];
    return count;
  } catch {
    // No group yet (nothing read), or Redis down: the console shows the backlog as unknown.
    return undefined;
  }
};

/** Which dead letters an action takes: these ids, every letter of a reason, or all. */
export type LetterChoice = { readonly ids: readonly string[] } | { readonly reason: string } | { readonly all: true };

const chooses =
  (choice: LetterChoice) =>
  (id: string, letter: unknown): boolean =>
    'all' in choice
      ? true
      : 'ids' in choice
        ? choice.ids.includes(id)
        : (letter as Letter | undefined)?.reason === choice.reason;

const describeChoice = (choice: LetterChoice): string =>
  'all' in choice ? 'every letter' : 'ids' in choice ? `${choice.ids.length} letter(s)` : `reason ${choice.reason}`;

/**
 * What a person does from the console. Each action is logged and written to the flow's run history with
 * who did it, then done; pausing and turning off use the flow's own intake valve, the switch its source
 * already obeys (as a destination that rejects the credentials does), so nothing is dropped: input waits.
 */
export class FlowActions {
  constructor(private readonly model: ConsoleModel) {}

  async pause(running: ConsoleFlow, by: Principal): Promise<string> {
    running.core.valve.close(PAUSED, `paused by ${by.name}`);
    return this.#record(running, by, 'pause', 'intake paused: updates wait in the source');
  }

  async resume(running: ConsoleFlow, by: Principal): Promise<string> {
    running.core.valve.open(PAUSED);
    return this.#record(running, by, 'resume', 'intake resumed');
  }

  async disable(running: ConsoleFlow, by: Principal): Promise<string> {
    running.core.valve.close(DISABLED, `turned off by ${by.name}`);
    return this.#record(running, by, 'disable', 'flow turned off at run time: updates wait in the source');
  }

  async enable(running: ConsoleFlow, by: Principal): Promise<string> {
    running.core.valve.open(DISABLED);
    return this.#record(running, by, 'enable', 'flow turned on at run time');
  }

  /**
   * Sends the chosen letters again through the running flow (its rate limit, dedupe, retries); their outcomes name who.
   */
  async redrive(running: ConsoleFlow, by: Principal, choice: LetterChoice): Promise<string> {
    await this.#record(running, by, 'redrive', `redrive of ${describeChoice(choice)} started`);
    const ledger = new Ledger();
    const writes: Array<Promise<void>> = [];
    // Each row names its person (as run's do), so that `forget` finds redriven rows too.
    const nameOf = (key: string) => running.core.identityHasher.hash(key);
    const subscription = ledger.settlements$.subscribe((settlement) =>
      writes.push(
        namedRunEntryOf(settlement, nameOf).then(
          (entry) => this.#write(running, { ...entry, by: by.name }),
          (error: unknown) =>
            this.#logger(running).warn({ error: messageOf(error) }, 'recording the run history failed'),
        ),
      ),
    );
    // Its own ledger keeps the redrive's outcomes apart (who redrove them, what it came to); they still
    // count as the flow's, on the overview and in the metrics.
    subscription.add(running.minutes.watch(ledger));
    subscription.add(this.model.metrics.forFlow(running.flow.name).countOutcomes(ledger));
    try {
      const { counts, removed } = await redriveLetters(
        running.core,
        running.flow,
        this.#logger(running),
        chooses(choice),
        ledger,
      );
      await Promise.all(writes);
      const failed = Object.values(counts.failed).reduce((a, b) => a + b, 0);
      return this.#record(
        running,
        by,
        'redrive',
        `redrove ${describeChoice(choice)}: ${counts.delivered} delivered, ${counts.duplicate} duplicate, ${failed} failed again, ${removed} removed`,
      );
    } finally {
      subscription.unsubscribe();
    }
  }

  async discard(running: ConsoleFlow, by: Principal, choice: LetterChoice): Promise<string> {
    const take = chooses(choice);
    const ids = (await running.core.deadLetters.entries())
      .filter(({ id, letter }) => take(id, letter))
      .map(({ id }) => id);
    await running.core.deadLetters.remove(ids);
    return this.#record(running, by, 'discard', `discarded ${ids.length} dead letter(s) (${describeChoice(choice)})`);
  }

  async #record(running: ConsoleFlow, by: Principal, action: string, detail: string): Promise<string> {
    this.#logger(running).info({ action, by: by.name, detail }, `console: ${action} by ${by.name}: ${detail}`);
    const entry: ActionEntry = { at: new Date().toISOString(), action, by: by.name, detail };
    await this.#write(running, entry);
    return detail;
  }

  #write(running: ConsoleFlow, entry: Parameters<FlowCore['history']['add']>[0]): Promise<void> {
    return Promise.resolve(running.core.history.add(entry)).catch((error: unknown) =>
      this.#logger(running).warn({ error: messageOf(error) }, 'recording the run history failed'),
    );
  }

  #logger(running: ConsoleFlow): Logger {
    return this.model.config.singleFlowForm ? this.model.logger : this.model.logger.child({ flow: running.flow.name });
  }
}
