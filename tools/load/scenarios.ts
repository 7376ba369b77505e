import { readFile } from 'node:fs/promises';
import { AUTH_QUICK_RATE, AUTH_RATE, authScenario } from './auth.ts';
import { CHAT_QUICK_RATE, CHAT_RATE, chatScenario } from './chat.ts';
import { CONTENT_QUICK_RATE, CONTENT_RATE, contentScenario } from './content.ts';
import { deploy, type Profile } from './deployment.ts';
import { progress, type Measured, type Plan } from './measure.ts';
import type { Threshold } from './thresholds.ts';

/** What every scenario reports; each adds its own figures (chat: connections, deliveries, losses). */
type BaseOutcome = Measured & Readonly<{ thresholds: readonly Threshold[] }>;

/** Each scenario, with the rate it runs at unless told (`--rate`). */
export const SCENARIOS = {
  auth: { run: authScenario, rate: AUTH_RATE, quickRate: AUTH_QUICK_RATE },
  content: { run: contentScenario, rate: CONTENT_RATE, quickRate: CONTENT_QUICK_RATE },
  chat: { run: chatScenario, rate: CHAT_RATE, quickRate: CHAT_QUICK_RATE },
} as const satisfies Record<
  string,
  { run: (url: string, plan: Plan) => Promise<BaseOutcome>; rate: number; quickRate: number }
>;
export type ScenarioName = keyof typeof SCENARIOS;
type Outcome = Awaited<ReturnType<(typeof SCENARIOS)[ScenarioName]['run']>>;

/** One scenario on one profile, as the JSON document reports it. */
export type RunReport =
  | (Outcome &
      Readonly<{
        scenario: ScenarioName;
        profile: Profile;
        startupSeconds: number;
        /** What the server process used over the scenario (seed, warm-up and measured window), for sizing pods. */
        server: ServerUsage;
        pass: boolean;
      }>)
  | Readonly<{ scenario: ScenarioName; profile: Profile; error: string; pass: false }>;

type ServerUsage = Readonly<{ cpuSeconds: number; cores: number; peakRssMiB: number; seconds: number }>;

const round = (n: number): number => Math.round(n * 100) / 100;
const CLOCK_TICKS = 100; // USER_HZ: /proc counts CPU time in these on Linux

/** The server's CPU time so far and its peak resident memory, from /proc (Linux). */
const serverUsage = async (pid: number) => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from its closing parenthesis: utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwmKiB = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return {
    at: performance.now(),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
    peakRssMiB: hwmKiB / 1024,
  };
};

/**
 * Runs one scenario against a server of its own: 1. deploy the profile,
 * 2. seed, warm up and measure (the scenario), 3. stop the server and
 * remove what the deployment made, whatever happened. A failure to deploy
 * or seed is reported as the run's `error`, never thrown.
 */
export const runScenario = async (
  scenario: ScenarioName,
  profile: Profile,
  plan: Plan,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<RunReport> => {
  progress(`${scenario} on ${profile}: ${plan.ratePerSecond}/s for ${plan.measureMs / 1000} s`);
  let deployment: Awaited<ReturnType<typeof deploy>> | null = null;
  try {
    deployment = await deploy(profile, env);
    const pid = deployment.server.child.pid!;
    const before = await serverUsage(pid);
    const outcome = await SCENARIOS[scenario].run(deployment.url, plan);
    const after = await serverUsage(pid);
    const seconds = (after.at - before.at) / 1000;
    const server = {
      cpuSeconds: round(after.cpuSeconds - before.cpuSeconds),
      cores: round((after.cpuSeconds - before.cpuSeconds) / seconds),
      peakRssMiB: round(after.peakRssMiB),
      seconds: round(seconds),
    };
    const pass = outcome.thresholds.every((t) => t.pass);
    progress(
      `${scenario} on ${profile}: ${outcome.rateAchieved}/s achieved, ${outcome.errors} errors, ${
        pass
          ? 'pass'
          : `missed: ${outcome.thresholds
              .filter((t) => !t.pass)
              .map((t) => `${t.name} ${t.actual} (limit ${t.limit})`)
              .join(', ')}`
      }`,
    );
    return {
      scenario,
      profile,
      startupSeconds: deployment.server.startupSeconds,
      server,
      ...outcome,
      pass,
    };
  } catch (error) {
    const e = error as Error;
    progress(`${scenario} on ${profile} failed: ${e.stack ?? String(e)}`);
    return { scenario, profile, error: `${e.name}: ${e.message}`, pass: false };
  } finally {
    await deployment?.stop();
  }
};
