#!/usr/bin/env node
import { messageOf } from '../operators/model/errors.js';
import { decodeOrThrow, NonEmptyString, struct } from '../operators/model/codecs.js';
import { totalOf } from '../operators/model/ledger.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { ConfigError, configOf, readConfigInput } from './config/load.js';
import { createLogger } from './logger.js';
import { runUntilSignalled, ExitCode } from './commands/run.js';
import type { Config } from './config/codec.js';
import { loadChain } from './chain.js';
import { chooseFlow, chooseFlows } from './config/flow-choice.js';
import { WHOLE_CONFIG_VARIABLE } from './config/env-config.js';
import { positiveInteger } from './commands/option-values.js';
import { configFileWarnings } from './config/secret-files.js';
import { offlineContext } from './wire.js';

// Every command but `run` imports its module when it is chosen: a long-lived `run` does not hold the
// others' code (the demo and its stand-in, replay and its progress bar, init, test, forget...) in memory.

const PackageJson = struct('package.json', { version: NonEmptyString }, {}, { open: true });

/** The package's version, from the nearest package.json up (this file runs from pipeline/ or dist/pipeline/). */
const packageVersion = (): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return decodeOrThrow(PackageJson, JSON.parse(readFileSync(file, 'utf8')), file).version;
  }
  return 'unknown';
};

/** Prints a config's problems, one per line, and sets the exit code; other errors are rethrown. */
const reportConfigError = (error: unknown): void => {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
};

const CONFIG_HELP = `YAML config file (else ${WHOLE_CONFIG_VARIABLE} or QA_<KEY> variables)`;

/**
 * A command that needs the config. The warnings about the environment (a `QA_` variable naming no key)
 * go to the action, which logs them (`run`); for any other command (`logsWarnings` unset) they are
 * printed to stderr here.
 */
const withConfig =
  <O extends { config: string }>(
    action: (config: Config, options: O, warnings: readonly string[]) => Promise<void>,
    { logsWarnings = false }: { logsWarnings?: boolean } = {},
  ) =>
  async (options: O): Promise<void> => {
    let config: Config;
    let warnings: readonly string[];
    try {
      const input = await readConfigInput(options.config, process.env);
      config = configOf(input, process.env);
      warnings = input.warnings;
    } catch (error) {
      return reportConfigError(error);
    }
    if (!logsWarnings) for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    // A config from the environment: messages name where it came from; relative paths start here.
    options.config ??= process.env[WHOLE_CONFIG_VARIABLE] ? WHOLE_CONFIG_VARIABLE : 'environment';
    try {
      await action(config, options, warnings);
    } catch (error) {
      // A plug-in's problems are config problems too; anything else is printed as it is.
      process.stderr.write(`${messageOf(error)}\n`);
      process.exitCode = 1;
    }
  };

export const program = new Command('qualtrics-automations')
  .description('Activate Adobe Experience Platform profile updates to a Qualtrics workflow JSON Event.')
  .version(packageVersion());

program
  .command('run')
  .description('run the pipeline until SIGINT or SIGTERM')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(
    withConfig(
      async (config, { config: file }: { config: string }, environmentWarnings) => {
        const logger = createLogger({ name: config.name });
        for (const warning of environmentWarnings) logger.warn(warning);
        for (const warning of await configFileWarnings(file)) logger.warn({ config: file }, warning);
        try {
          process.exitCode = await runUntilSignalled(config, logger, dirname(resolve(file)));
        } catch (error) {
          // One line that says what failed; everything the pipeline opened is closed by now.
          const message = messageOf(error);
          logger.fatal({ error: message }, `run failed: ${message}`);
          process.exitCode = ExitCode.failed;
        }
        // A connection that will not close must not keep a finished process alive.
        setTimeout(() => process.exit(), 5_000).unref();
      },
      { logsWarnings: true },
    ),
  );

program
  .command('validate')
  .description('check a config file; print every problem and exit 1, or exit 0')
  .option('-c, --config <file>', CONFIG_HELP)
  .action(async ({ config: file }: { config?: string }) => {
    try {
      const { validateCommand } = await import('./commands/validate.js');
      process.stdout.write(await validateCommand(file, process.env));
    } catch (error) {
      reportConfigError(error);
    }
  });

program
  .command('schema')
  .description('print the JSON Schema of a config, for editors (generated from the codec that decodes it)')
  .action(async () => {
    const { configSchema } = await import('./config/config-schema.js');
    process.stdout.write(`${JSON.stringify(configSchema(), null, 2)}\n`);
  });

program
  .command('init')
  .description('write a starting point: a commented config for one flow, its test file and a .env.example')
  .argument('[dir]', 'where to write them', '.')
  .option('-y, --yes', 'ask nothing: take every default')
  .option('--force', 'overwrite files that exist')
  .action(async (dir: string, options: { yes?: boolean; force?: boolean }) => {
    try {
      const { initCommand } = await import('./commands/init.js');
      process.stdout.write(
        await initCommand(dir, {
          ask: options.yes !== true && process.stdin.isTTY === true,
          force: options.force === true,
        }),
      );
    } catch (error) {
      process.stderr.write(`${messageOf(error)}\n`);
      process.exitCode = 1;
    }
  });

program
  .command('replay')
  .description(
    'backfill: send a range of a Redis stream through the pipeline (dedupe and the stale rule keep what was delivered)',
  )
  .option('-c, --config <file>', CONFIG_HELP)
  .requiredOption('--stream <key>', 'the stream to read')
  .option('--from <id|time>', 'first entry: a stream id or an ISO time (default: the start)')
  .option('--to <id|time>', 'last entry: a stream id or an ISO time (default: the end)')
  .option('--field <name>', 'the entry field holding the update (default: source.redisStream.field, else profile)')
  .option('--flow <name...>', 'only these flows (default: every enabled flow)')
  .action(
    withConfig(
      async (
        config,
        options: { config: string; stream: string; from?: string; to?: string; field?: string; flow?: string[] },
      ) => {
        const { parseBound, startReplay } = await import('./replay.js');
        const { showProgress } = await import('./replay-progress.js');
        const from = parseBound(options.from, 'from');
        const to = parseBound(options.to, 'to');
        const field = options.field ?? config.source.redisStream?.field ?? 'profile';
        const flows = await Promise.all(
          chooseFlows(config, options.flow, options.config).map(async (flow) => ({
            flow,
            chain: await loadChain(flow, dirname(resolve(options.config)), options.config),
          })),
        );
        const replay = await startReplay(
          config,
          flows,
          { stream: options.stream, from, to, field },
          createLogger({ name: config.name, level: process.env.LOG_LEVEL ?? 'warn' }),
        );
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
        process.stdout.write(
          `replayed ${final.read} entries of ${options.stream}: delivered ${counts.delivered}, duplicates ` +
            `${counts.duplicate}, excluded ${totalOf(counts.excluded)}, failed ${totalOf(counts.failed)}\n`,
        );
        if (stopping && final.resumeFrom)
          process.stdout.write(`stopped early; resume with: --from ${final.resumeFrom}\n`);
      },
    ),
  );

program
  .command('history')
  .description('show the last outcomes (from Redis, or without it from the state directory: while run runs or after)')
  .option('-c, --config <file>', CONFIG_HELP)
  .option('--failed', 'only failures')
  .option('--limit <n>', 'at most this many (default: 50)', positiveInteger, 50)
  .option('--flow <name>', 'the flow (needed when the config has several)')
  .action(
    withConfig(async (config, options: { config: string; failed?: boolean; limit: number; flow?: string }) => {
      const flow = chooseFlow(config, options.flow, options.config);
      const { historyCommand } = await import('./commands/history.js');
      process.stdout.write(
        await historyCommand(config, flow, { failed: options.failed === true, limit: options.limit }),
      );
    }),
  );

const dlq = program.command('dlq').description('dead letters: what could not be delivered');
dlq
  .command('list')
  .description('list the dead letters with their reasons')
  .option('-c, --config <file>', CONFIG_HELP)
  .option('--flow <name>', 'the flow (needed when the config has several)')
  .option('--reason <code>', 'only letters with this reason (e.g. http-400, retries-exhausted)')
  .option('--limit <n>', 'at most this many', positiveInteger)
  .option('--json', 'one JSON object a line')
  .action(
    withConfig(
      async (config, options: { config: string; flow?: string; reason?: string; limit?: number; json?: boolean }) => {
        const flow = chooseFlow(config, options.flow, options.config);
        const logger = createLogger({ name: config.name, level: 'warn' });
        const { dlqList } = await import('./commands/dlq.js');
        process.stdout.write(await dlqList(config, flow, logger, options));
      },
    ),
  );
dlq
  .command('redrive')
  .description(
    'send dead letters again (dedupe, rate limit and retries apply); each is removed once its new outcome is final',
  )
  .option('-c, --config <file>', CONFIG_HELP)
  .option('--reason <code>', 'only letters with this reason (e.g. http-400, retries-exhausted)')
  .option('--flow <name>', 'the flow (needed when the config has several)')
  .action(
    withConfig(async (config, options: { config: string; reason?: string; flow?: string }) => {
      const { dlqRedrive } = await import('./commands/dlq.js');
      const { counts, removed } = await dlqRedrive(
        config,
        chooseFlow(config, options.flow, options.config),
        createLogger({ name: config.name, level: process.env.LOG_LEVEL ?? 'warn' }),
        options.reason,
      );
      process.stdout.write(
        `redrove ${counts.received} dead letter(s): delivered ${counts.delivered}, duplicates ` +
          `${counts.duplicate}, excluded ${totalOf(counts.excluded)}, failed again ${totalOf(counts.failed)}; ` +
          `removed ${removed}\n`,
      );
    }),
  );

program
  .command('forget')
  .description(
    'remove everything held about people (dedupe marks, delivery log, history, dead letters, journal entries), in every flow',
  )
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option('--identity <namespace:id...>', 'a person, like Email:ann@example.com')
  .option('--file <file>', 'a file of people, one <namespace>:<id> a line')
  .action(
    withConfig(async (config, options: { config: string; identity?: string[]; file?: string }) => {
      const { forget, parsePerson, readPeople } = await import('./commands/forget.js');
      const people = [
        ...(options.identity ?? []).map((text) => parsePerson(text, '--identity')),
        ...(options.file ? await readPeople(options.file) : []),
      ];
      if (people.length === 0) throw new ConfigError('forget', ['name people with --identity or --file']);
      const { report, nothingFound, incomplete } = await forget(config, people);
      process.stdout.write(report);
      // Found nowhere: most likely a typo, which must not pass for an erasure.
      if (nothingFound) process.exitCode = 2;
      else if (incomplete) process.exitCode = 1;
    }),
  );

program
  .command('send-test')
  .description('post one sample update, mapped from the config, to the real destination and show what came back')
  .option('-c, --config <file>', CONFIG_HELP)
  .option('--flow <name>', 'the flow (needed when the config has several)')
  .action(
    withConfig(async (config, options: { config: string; flow?: string }) => {
      const flow = chooseFlow(config, options.flow, options.config);
      const chain = await loadChain(flow, dirname(resolve(options.config)), options.config);
      const { sendTest } = await import('./commands/send-test.js');
      const { mapOnce } = await import('./map-message.js');
      const { ok, report } = await sendTest(flow, (profile) => mapOnce(chain, profile, offlineContext(config, flow)));
      process.stdout.write(report);
      if (!ok) process.exitCode = 1;
    }),
  );

program
  .command('test')
  .description(
    'run declarative pipeline tests (YAML cases: a config, input profiles, expected payloads or exclusions), ' +
      'with no network',
  )
  .argument('<files...>', 'test files')
  .action(async (files: string[]) => {
    try {
      const { formatResults, runTestFiles } = await import('./commands/test-cases.js');
      const results = await runTestFiles(files);
      process.stdout.write(formatResults(results));
      if (results.some((r) => !r.passed)) process.exitCode = 1;
    } catch (error) {
      reportConfigError(error);
    }
  });

program
  .command('demo')
  .description('run the embedded demo: a local feed, the pipeline, a local stand-in for a Qualtrics JSON Event')
  .action(async () => {
    const { runDemo } = await import('./demo/run-demo.js');
    process.exitCode = await runDemo();
  });

await program.parseAsync();
