import { PROFILES, type Profile } from './deployment.ts';
import { SCENARIOS, type ScenarioName } from './scenarios.ts';

export const USAGE = `usage: ./dev load <auth|content|chat|all> [--profile embedded|distributed|both] [--duration 30s] [--rate N] [--quick]
  --profile   where the server runs (default both); distributed needs DATABASE_URL and KAFKA_BROKERS
  --duration  the measured window: 500ms, 30s, 2m (default 30s; 3s with --quick)
  --rate      iterations started per second (default per scenario; see tools/load/README.md)
  --quick     small seed, short windows, low rates: to try it out, not for figures`;

export type Options = Readonly<{
  scenarios: readonly ScenarioName[];
  profiles: readonly Profile[];
  measureMs: number | null;
  rate: number | null;
  quick: boolean;
}>;

/** Parses the command line; a string is the reason it is not usable. */
export const parseArgs = (args: readonly string[]): Options | string => {
  const names = Object.keys(SCENARIOS) as ScenarioName[];
  let scenarios: ScenarioName[] | null = null;
  let profiles: readonly Profile[] = PROFILES;
  let measureMs: number | null = null;
  let rate: number | null = null;
  let quick = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string | undefined => args[++i];
    if (arg === '--quick') quick = true;
    else if (arg === '--profile') {
      const p = value();
      if (p === 'both') profiles = PROFILES;
      else if (p && (PROFILES as readonly string[]).includes(p)) profiles = [p as Profile];
      else return `--profile takes embedded, distributed or both (got ${p ?? 'nothing'})`;
    } else if (arg === '--duration') {
      const d = value();
      const m = d ? /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d) : null;
      if (!m) return `--duration takes a number with ms, s or m, as 30s (got ${d ?? 'nothing'})`;
      measureMs = Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
      if (measureMs < 500) return `--duration must be at least 500ms (got ${d})`;
    } else if (arg === '--rate') {
      const r = value();
      rate = r !== undefined && /^\d+(\.\d+)?$/.test(r) ? Number(r) : NaN;
      if (!(rate > 0))
        return `--rate takes a positive number of iterations per second (got ${r ?? 'nothing'})`;
    } else if (arg.startsWith('-')) return `unknown option ${arg}`;
    else if (scenarios) return `one scenario at a time (got ${arg} after ${scenarios.join(',')})`;
    else if (arg === 'all') scenarios = names;
    else if ((names as string[]).includes(arg)) scenarios = [arg as ScenarioName];
    else return `unknown scenario ${arg}: one of ${names.join(', ')} or all`;
  }
  if (!scenarios) return 'which scenario? one of auth, content, chat or all';
  return { scenarios, profiles, measureMs, rate, quick };
};
