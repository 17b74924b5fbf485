#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ConfigError, loadConfig } from './config/load.js';
import { runDemo } from './demo/run-demo.js';
import { createLogger } from './logger.js';
import { runUntilSignalled } from './run.js';

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
  .command('demo')
  .description('run the embedded demo: a local feed, the pipeline, a local stand-in for a Qualtrics JSON Event')
  .action(async () => {
    process.exitCode = await runDemo();
  });

await program.parseAsync();
