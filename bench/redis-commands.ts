import { createHash } from 'node:crypto';
import type { Redis } from '../adapters/redis/connection.js';
import { RedisDedupeStore } from '../adapters/redis/dedupe-store.js';
import { RedisDeliveryLog } from '../adapters/redis/delivery-log.js';
import { RedisHistory } from '../adapters/redis/history.js';
import { StreamJournal } from '../adapters/redis/journal.js';
import { RedisRateLimiter } from '../adapters/redis/rate-limiter.js';
import { RedisTurnBook } from '../adapters/redis/turn-book.js';

/**
 * A connection in MONITOR mode, heard from its first line on. Not ioredis' `monitor()`: it enters the
 * mode a microtask after MONITOR's OK, so lines read with the OK (other clients' commands, on a busy
 * shared Redis) are taken for replies to nothing, an error each, and it listens for the first error
 * only: a second one, unheard, ended the bench process.
 */
const monitorOf = async (redis: Redis): Promise<Redis> => {
  const monitor = redis.duplicate({ monitor: true, lazyConnect: true });
  const monitoring = new Promise<void>((resolve, reject) => {
    monitor.once('monitoring', () => resolve());
    // Before the mode: failing to connect or to enter it is a failure. In it: those lines, let go.
    monitor.on('error', (error: Error) => {
      if (!error.message.startsWith('Command queue state error')) reject(error);
    });
  });
  try {
    await monitor.connect();
    await monitoring;
    return monitor;
  } catch (error) {
    monitor.disconnect();
    throw error;
  }
};

/**
 * The commands Redis ran that name `prefix` (a test's own keys) while `run` ran, read with MONITOR: a
 * count that other clients of a shared Redis cannot disturb. A marker command, sent after `run`, tells
 * when the monitor has seen everything before it. EVALSHA falling back to EVAL (a script not loaded yet)
 * shows as two; warm a script up first where that matters. A script's own calls are not counted. Each
 * command is reported by `label` (default: its name, lower case).
 */
export const commandsNaming = async (
  redis: Redis,
  prefix: string,
  run: () => Promise<unknown>,
  label: (args: readonly string[]) => string = (args) => args[0]!.toLowerCase(),
): Promise<string[]> => {
  const monitor = await monitorOf(redis);
  const seen: string[] = [];
  const marker = `${prefix}:end-of-count`;
  const ended = new Promise<void>((resolve) =>
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args.includes(marker)) resolve();
      // What a script runs shows too, from "lua": part of the one command that ran the script.
      else if (source === 'lua') return;
      else if (args.some((arg) => arg.includes(prefix))) seen.push(label(args));
    }),
  );
  try {
    await run();
    await redis.echo(marker);
    await ended;
    return seen;
  } finally {
    monitor.disconnect();
  }
};

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/**
 * The product's Lua scripts by SHA-1 (what an EVALSHA line carries): its adapters are built on a stand-in
 * for Redis that only records what `luaScript` defines, so the sources stay where they are (not exported)
 * and a changed script is still named. A script of an adapter not built here is named by its key instead.
 */
export const productScripts = (): ReadonlyMap<string, string> => {
  const scripts = new Map<string, string>();
  const recorder = {
    defineCommand: (name: string, { lua }: { readonly lua: string }) => scripts.set(sha1(lua), name),
  } as unknown as Redis;
  new RedisDedupeStore(recorder, 'x');
  new RedisRateLimiter(recorder, 'x', { requests: 1, perSeconds: 1 });
  new RedisHistory(recorder, 'x', 1, (_: unknown): _ is unknown => true);
  new RedisDeliveryLog(recorder, 'x', 1);
  new RedisTurnBook(recorder, { linePrefix: 'x' });
  new StreamJournal({ redis: recorder, stream: 'x', groups: [], field: 'x' });
  return scripts;
};

/**
 * A `commandsNaming` label telling what a command was for: its name, then the script it ran (EVALSHA,
 * EVAL) when `scripts` knows it, else the first segment of the first key after `prefix` (`set …:sent`,
 * `mget …:last`): dedupe, rate limit and history keys differ there.
 */
export const commandLabel =
  (prefix: string, scripts: ReadonlyMap<string, string>) =>
  (args: readonly string[]): string => {
    const command = args[0]!.toLowerCase();
    const script =
      command === 'evalsha' ? scripts.get(args[1]!) : command === 'eval' ? scripts.get(sha1(args[1]!)) : undefined;
    if (script) return `${command} ${script}`;
    const key = args.find((arg) => arg.includes(prefix));
    return `${command} …:${key?.slice(key.indexOf(prefix) + prefix.length).split(':')[1] ?? ''}`;
  };
