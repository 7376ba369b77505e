import { cpus, loadavg } from 'node:os';
import { round } from '../src/bench/stats.ts';
import { parseArgs, USAGE } from './args.ts';
import { missingEngines } from './deployment.ts';
import { progress } from './measure.ts';
import { runScenario, SCENARIOS, type RunReport } from './scenarios.ts';

const main = async (): Promise<void> => {
  const options = parseArgs(process.argv.slice(2));
  if (typeof options === 'string') {
    process.stderr.write(`${options}\n${USAGE}\n`);
    process.exit(2);
  }
  const missing = missingEngines(process.env);
  if (options.profiles.includes('distributed') && missing.length) {
    process.stderr.write(
      `the distributed profile needs ${missing.join(' and ')} (./dev load starts the engines and sets them; or --profile embedded)\n`,
    );
    process.exit(2);
  }
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg().map((n) => round(n, 2));
  const runs: RunReport[] = [];
  for (const scenario of options.scenarios)
    for (const profile of options.profiles) {
      const defaults = SCENARIOS[scenario];
      runs.push(
        await runScenario(scenario, profile, {
          ratePerSecond: options.rate ?? (options.quick ? defaults.quickRate : defaults.rate),
          warmupMs: options.quick ? 1000 : 5000,
          measureMs: options.measureMs ?? (options.quick ? 3000 : 30_000),
          quick: options.quick,
        }),
      );
    }
  const pass = runs.every((r) => r.pass);
  const document = {
    load: 'lectern',
    startedAt,
    quick: options.quick,
    machine: {
      cpus: cpus().length,
      // The machine may be shared: its load before and after says how much the figures can be trusted.
      loadAverage1m5m15mBefore: loadBefore,
      loadAverage1m5m15mAfter: loadavg().map((n) => round(n, 2)),
    },
    runs,
    pass,
  };
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  progress(pass ? 'every threshold met' : 'a threshold was missed or a run failed');
  // Clients some libraries keep (sockets, timers) must not hold the process open.
  process.exit(pass ? 0 : 1);
};

await main();
