import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeHls } from '@lectern/transcoding-worker/media/encode';
import { planLadder } from '@lectern/transcoding-worker/media/ladder';
import { probe } from '@lectern/transcoding-worker/media/probe';
import { makeClip } from '@lectern/transcoding-worker/media/testing';
import type { ReportDocument, ReportSection } from '@lectern/reports-worker/pdf/document';
import { renderPdf } from '@lectern/reports-worker/pdf/render';
import { renderInThread } from '@lectern/reports-worker/pdf/thread';
import { median, progress, round, summarize } from './stats.ts';

/** The aim, "wall time ÷ duration ≤ 1.5", as a speed factor: at least 1 ÷ 1.5. */
export const MIN_SPEED_FACTOR = round(1 / 1.5, 3);

export type MediaPlan = Readonly<{
  clipSeconds: number;
  encodes: number;
  pdfRuns: number;
  pdfWarmup: number;
}>;

const day = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);

/** A dashboard of four charts (DAU, WAU, MAU, the funnel) over a year, as the reports worker builds one. */
const fourCharts = (): ReportDocument => {
  const series = (name: string, x: string, n: number, kind: 'line' | 'bar'): ReportSection => ({
    report: name,
    title: name.toUpperCase(),
    description: `${name} over the year.`,
    params: { from: day(0), to: day(364) },
    columns: [
      { name: x, type: 'date' },
      { name: 'users', type: 'integer' },
    ],
    rows: Array.from({ length: n }, (_, i) => ({
      [x]: day(i * Math.floor(365 / n)),
      users: 1000 + ((i * 7919) % 500),
    })),
    chart: { kind, x, series: ['users'] },
    csvPath: `/api/analytics/reports/${name}/export?format=csv`,
  });
  return {
    title: 'A year of learning',
    subtitle: null,
    range: { from: day(0), to: day(364) },
    filters: {},
    generatedAt: '2026-12-01T06:00:00.000Z',
    watermark: '2026-11-30T23:59:00.000Z',
    query: '{"bench":true}',
    sections: [
      series('dau', 'day', 365, 'line'),
      series('wau', 'week', 52, 'line'),
      series('mau', 'month', 12, 'bar'),
      {
        report: 'funnel',
        title: 'Funnel',
        description: 'Four steps.',
        params: {},
        columns: [
          { name: 'step', type: 'integer' },
          { name: 'type', type: 'string' },
          { name: 'users', type: 'integer' },
        ],
        rows: ['viewed', 'started', 'completed', 'rated'].map((t, i) => ({
          step: i + 1,
          type: `course.${t}`,
          users: 900 / (i + 1),
        })),
        chart: { kind: 'bar', x: 'type', series: ['users'] },
        csvPath: '/api/analytics/reports/funnel/export?format=csv',
      },
    ],
    maxPages: 50,
  };
};

/**
 * Media (issue 11): the transcoding worker's encode of a 1080p test clip
 * (lavfi `testsrc2` and a sine tone, 25 fps) into the 720p + 1080p ladder,
 * as its speed factor in ffmpeg's convention (media seconds encoded per
 * wall-clock second, above 1 faster than real time), the very figure
 * `encodeHls` hands the worker for its metric and its log; median of the
 * runs, aim ≥ 1 ÷ 1.5 (the "wall time ÷ duration ≤ 1.5"); and the
 * render of a four-chart PDF dashboard, on the main thread and in a worker
 * thread as the reports worker renders (p50).
 */
export const mediaSection = async (plan: MediaPlan) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-bench-media-'));
  try {
    const clip = join(dir, 'clip.mp4');
    progress(`media: making a ${plan.clipSeconds} s 1080p clip`);
    await makeClip(clip, { seconds: plan.clipSeconds, width: 1920, height: 1080, audio: true });
    const info = await probe(clip);
    const rungs = planLadder(info.video);
    const speeds: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < plan.encodes; i++) {
      const encoded = await encodeHls({
        input: clip,
        outDir: join(dir, `out-${i}`),
        rungs,
        durationSeconds: info.durationSeconds,
        hasAudio: info.audio !== null,
      });
      speeds.push(encoded.speedFactor);
      walls.push(encoded.seconds);
      progress(
        `media: encode ${i + 1}: ${encoded.seconds.toFixed(1)} s, speed factor ${encoded.speedFactor.toFixed(2)}x`,
      );
    }
    const doc = fourCharts();
    const mainThread: number[] = [];
    const inThread: number[] = [];
    let pages = 0;
    for (let i = 0; i < plan.pdfWarmup + plan.pdfRuns; i++) {
      let t = performance.now();
      const pdf = await renderPdf(doc);
      const a = performance.now() - t;
      t = performance.now();
      await renderInThread(doc);
      const b = performance.now() - t;
      pages = pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length ?? 0;
      if (i >= plan.pdfWarmup) {
        mainThread.push(a);
        inThread.push(b);
      }
    }
    return {
      transcoding: {
        clip: { seconds: round(info.durationSeconds, 2), width: 1920, height: 1080, fps: 25, audio: true },
        rungs: rungs.map((r) => r.name),
        encodeSeconds: walls.map((w) => round(w, 2)),
        /** Media seconds encoded per wall-clock second, as `lectern_transcode_speed_factor` and the log. */
        speedFactor: speeds.map((r) => round(r, 3)),
        medianSpeedFactor: round(median(speeds), 3),
        aim: MIN_SPEED_FACTOR,
        met: median(speeds) >= MIN_SPEED_FACTOR,
      },
      pdf: {
        charts: 4,
        pages,
        renderMs: summarize(mainThread),
        renderInThreadMs: summarize(inThread),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
