import test, { type ExecutionContext } from 'ava';
import { requireEngine } from '@lectern/infra/testing/engines';
import type { Profile } from './deployment.ts';
import type { StepResult } from './measure.ts';
import { runScenario, SCENARIOS, type ScenarioName } from './scenarios.ts';

/**
 * Each load scenario in its quickest form, on each profile: it seeds,
 * drives and cleans up, and reports a complete document with no error and
 * no lost message. Latency and throughput are reported, never asserted:
 * this machine is shared, and a test must not fail because it is busy.
 */

const names = Object.keys(SCENARIOS) as ScenarioName[];

const isSummary = (t: ExecutionContext, step: StepResult, name: string) => {
  t.true(Number.isInteger(step.requests) && Number.isInteger(step.errors), name);
  for (const k of ['samples', 'p50', 'p90', 'p95', 'p99', 'max'] as const)
    t.is(typeof step.latencyMs[k], 'number', `${name}.latencyMs.${k}`);
};

const suite = (profile: Profile) => {
  for (const scenario of names)
    test.serial(
      `${scenario} on ${profile}: every request answered, nothing lost, a full report`,
      async (t) => {
        const report = await runScenario(scenario, profile, {
          ratePerSecond: SCENARIOS[scenario].quickRate,
          warmupMs: 500,
          measureMs: 1500,
          quick: true,
        });
        if ('error' in report) return t.fail(report.error);
        t.like(report, { scenario, profile, rateAsked: SCENARIOS[scenario].quickRate });
        t.true(report.requests > 0, 'the measured window saw requests');
        t.is(report.errors, 0, report.firstError);
        t.is(report.errorRate, 0);
        t.true(Object.keys(report.steps).length > 0);
        for (const [name, step] of Object.entries(report.steps)) isSummary(t, step, name);
        t.true(report.thresholds.length >= 2);
        for (const threshold of report.thresholds) {
          t.is(typeof threshold.pass, 'boolean', threshold.name);
          t.is(typeof threshold.limit, 'number', threshold.name);
        }
        t.is(
          report.pass,
          report.thresholds.every((th) => th.pass),
        );
        if ('messagesLost' in report) {
          t.is(report.messagesLost, 0, 'every message reached every other member');
          t.is(report.connections.errors, 0);
          t.is(report.connections.opened, report.users);
          t.true(report.delivery.received > 0);
        }
      },
    );
};

suite('embedded');
if (
  requireEngine(test, 'DATABASE_URL', 'load tests on the distributed profile') &&
  requireEngine(test, 'KAFKA_BROKERS', 'load tests on the distributed profile')
)
  suite('distributed');
