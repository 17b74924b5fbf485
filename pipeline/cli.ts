#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ConfigError, loadConfig } from './config/load.js';
import { runDemo } from './demo/run-demo.js';
import { createLogger } from './logger.js';
import { runUntilSignalled } from './run.js';
import { parseBound, startReplay } from './replay.js';
import { showProgress } from './replay-progress.js';

/** The package's version, from the nearest package.json up (this file runs from pipeline/ or dist/pipeline/). */
const packageVersion = (): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
};

/** Prints a config's problems, one per line, and sets the exit code; other errors are rethrown. */
const reportConfigError = (error: unknown): void => {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
};

export const program = new Command('qualtrics-automations')
  .description('Activate Adobe Experience Platform profile updates to a Qualtrics workflow JSON Event.')
  .version(packageVersion());

program
  .command('run')
  .description('run the pipeline until SIGINT or SIGTERM')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .action(async ({ config: file }: { config: string }) => {
    try {
      const config = await loadConfig(file);
      await runUntilSignalled(config, createLogger({ name: config.name }));
    } catch (error) {
      reportConfigError(error);
    }
  });

program
  .command('validate')
  .description('check a config file; print every problem and exit 1, or exit 0')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .action(async ({ config: file }: { config: string }) => {
    try {
      const config = await loadConfig(file);
      process.stdout.write(
        `${file}: OK (${config.name}: ${config.audiences.length} audience(s), ${config.identities.length} identity mapping(s), ${config.attributes.length} attribute(s))\n`,
      );
    } catch (error) {
      reportConfigError(error);
    }
  });

program
  .command('replay')
  .description('backfill: send a range of a Redis stream through the pipeline (dedupe and the stale rule keep what was delivered)')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .requiredOption('--stream <key>', 'the stream to read')
  .option('--from <id|time>', 'first entry: a stream id or an ISO time (default: the start)')
  .option('--to <id|time>', 'last entry: a stream id or an ISO time (default: the end)')
  .option('--field <name>', 'the entry field holding the update (default: source.redisStream.field, else profile)')
  .action(async (options: { config: string; stream: string; from?: string; to?: string; field?: string }) => {
    let config;
    try {
      config = await loadConfig(options.config);
    } catch (error) {
      return reportConfigError(error);
    }
    const from = parseBound(options.from, 'from');
    const to = parseBound(options.to, 'to');
    const field = options.field ?? config.source.redisStream?.field ?? 'profile';
    const replay = await startReplay(config, { stream: options.stream, from, to, field }, createLogger({ name: config.name, level: process.env.LOG_LEVEL ?? 'warn' }));
    const display = showProgress(process.stderr, () => replay.progress());
    let stopping = false;
    const onSignal = (): void => {
      if (stopping) {
        const now = replay.progress();
        process.stdout.write(`\ninterrupted; resume with: --from ${now.resumeFrom ?? from}\n`);
        process.exit(130);
      }
      stopping = true;
      display.note('stopping: letting what was read settle (Ctrl-C again to quit at once)');
      void replay.stop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const final = await replay.done;
    display.stop(final);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    const { counts } = final;
    const sum = (c: Readonly<Record<string, number>>) => Object.values(c).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `replayed ${final.read} entries of ${options.stream}: delivered ${counts.delivered}, duplicates ${counts.duplicate}, excluded ${sum(counts.excluded)}, failed ${sum(counts.failed)}\n`,
    );
    if (stopping && final.resumeFrom) process.stdout.write(`stopped early; resume with: --from ${final.resumeFrom}\n`);
  });

program
  .command('demo')
  .description('run the embedded demo: a local feed, the pipeline, a local stand-in for a Qualtrics JSON Event')
  .action(async () => {
    process.exitCode = await runDemo();
  });

await program.parseAsync();
