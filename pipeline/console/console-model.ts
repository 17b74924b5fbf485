import type { Subscription } from 'rxjs';
import type { AlertEvent } from '../alerts.js';
import type { Config } from '../config/codec.js';
import type { Logger } from '../logger.js';
import type { Started } from '../run.js';
import { type ConsoleFlow, type ConsoleModel, recordAlert } from './console-flows.js';
import { MinuteCounts } from './minute-counts.js';

/** The console's view of a started process, and how to stop watching it. */
export interface ConsoleWatch {
  readonly model: ConsoleModel;
  /** Wraps a flow's alert notifier so the console also keeps the flow's recent alerts. */
  notifierOf(flow: string, notify: (event: AlertEvent) => void): (event: AlertEvent) => void;
  stop(): void;
}

/** Starts counting every running flow's minutes (from now on) for the console. */
export const watchForConsole = (config: Config, started: Started, logger: Logger): ConsoleWatch => {
  const subscriptions: Subscription[] = [];
  const flows: ConsoleFlow[] = started.flows.map(({ flow, pipeline, wiring }) => {
    const minutes = new MinuteCounts();
    subscriptions.push(minutes.watch(pipeline.ledger));
    return { flow, ledger: pipeline.ledger, core: wiring.core, minutes, alerts: undefined, recentAlerts: [] };
  });
  return {
    model: { config, flows, metrics: started.metrics, redis: started.wiring.shared.redis, logger },
    notifierOf: (name, notify) => (event) => {
      const running = flows.find(({ flow }) => flow.name === name);
      if (running) recordAlert(running, event);
      notify(event);
    },
    stop: () => {
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    },
  };
};
