import type { SchedulerLike } from 'rxjs';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../../adapters/memory/rate-limiter.js';
import type { OperatorContext } from '../../operators/model/define.js';
import { compareStreamPositions } from '../../operators/model/order.js';
import type { DeadLetter } from '../../operators/model/ports.js';
import { IntakeValve } from '../../pipeline/valve.js';

export interface TestContext extends OperatorContext {
  readonly deadLettered: DeadLetter[];
  readonly valve: IntakeValve;
  readonly slowDowns: number[];
}

/**
 * An operator context of in-memory adapters on `scheduler`'s clock, with a generous rate limit,
 * deterministic jitter (always the longest delay) and dead letters kept in a list.
 */
export const testContext = (
  scheduler: SchedulerLike | undefined,
  overrides: Partial<OperatorContext> = {},
): TestContext => {
  const now = () => scheduler?.now() ?? Date.now();
  const deadLettered: DeadLetter[] = [];
  const slowDowns: number[] = [];
  const limiter = new MemoryRateLimiter({ requests: 1_000_000, perSeconds: 1, now });
  return {
    dedupeStore: new MemoryDedupeStore({ now }),
    deliveryLog: new MemoryDeliveryLog({ compare: compareStreamPositions }),
    rateLimiter: { reserve: () => limiter.reserve(), slowDown: () => (slowDowns.push(now()), limiter.slowDown()) },
    sender: { send: () => [{ status: 202, body: '' }] },
    deadLetters: { add: (letter) => void deadLettered.push(letter) },
    valve: new IntakeValve(),
    ...(scheduler ? { scheduler } : {}),
    random: () => 1,
    ...overrides,
    deadLettered,
    slowDowns,
  } as TestContext;
};
