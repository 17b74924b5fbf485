import type { Redis } from '../adapters/redis/connection.js';

/**
 * The commands Redis ran that name `prefix` (a test's own keys) while `run` ran, read with MONITOR: a
 * count that other clients of a shared Redis cannot disturb. A marker command, sent after `run`, tells
 * when the monitor has seen everything before it. EVALSHA falling back to EVAL (a script not loaded yet)
 * shows as two; warm a script up first where that matters. A script's own calls are not counted.
 */
export const commandsNaming = async (redis: Redis, prefix: string, run: () => Promise<unknown>): Promise<string[]> => {
  const monitor = await redis.monitor();
  // Lines arriving while ioredis is not yet, or no longer, in monitoring state (other clients' commands,
  // before `run` or after the marker) are taken for replies to nothing and reported as errors: let go.
  monitor.on('error', () => {});
  const seen: string[] = [];
  const marker = `${prefix}:end-of-count`;
  const ended = new Promise<void>((resolve) =>
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args.includes(marker)) resolve();
      // What a script runs shows too, from "lua": part of the one command that ran the script.
      else if (source === 'lua') return;
      else if (args.some((arg) => arg.includes(prefix))) seen.push(args[0]!.toLowerCase());
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
