import { Router, type Request, type Response } from 'express';
import { ch, join, type ChSql } from '@lectern/infra/analytics/sql';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { validationProblem } from '@lectern/infra/runtime/errors';
import {
  EXPORT_MEDIA_TYPES,
  eventsExportParams,
  exportFileName,
  reportExportQuery,
  type EventsExportParams,
  type ExportFormat,
} from '@lectern/schemas/analytics/exports-api';
import type { ExportColumn, ExportRow } from './exports/columns.ts';
import { writeCsv } from './exports/csv.ts';
import { ExportAborted, peek, type Peeked } from './exports/sink.ts';
import { writeXlsx } from './exports/xlsx.ts';
import { reportNamed, unavailableProblem, type ReportColumn } from './reports.ts';

export type AnalyticsExportDeps = Readonly<{
  /** ClickHouse or chDB: what the exports read. */
  store: AnalyticsStore;
  verify: (token: string) => Promise<VerifiedToken>;
}>;

/** The columns of the raw events export, in order. */
export const EVENT_EXPORT_COLUMNS: readonly ExportColumn[] = [
  { key: 'event_id', type: 'string' },
  { key: 'kind', type: 'string' },
  { key: 'type', type: 'string' },
  { key: 'user_id', type: 'string' },
  { key: 'source', type: 'string' },
  { key: 'occurred_at', type: 'time' },
  { key: 'payload', type: 'json' },
];

/**
 * Bytes of rows the engine sorts in memory before it sorts on disk. A raw
 * export is sorted by time, which is not the table's order, and a long
 * range would otherwise be sorted whole in memory: in the server's, or with
 * chDB in this very process.
 */
const EXTERNAL_SORT_BYTES = 64 * 1024 * 1024;

/**
 * The raw events of a range of UTC days, each once, by time then id.
 * `FINAL` collapses the copies redelivery and replays leave until parts
 * merge (they share every sorting-key column, the event id included);
 * `event_date` bounds the read to the range's partitions and key ranges.
 * The sort spills to disk past `EXTERNAL_SORT_BYTES` (a setting 18.16 has).
 */
export const eventsExportSql = (store: AnalyticsStore, p: EventsExportParams): ChSql => {
  const where: ChSql[] = [ch`event_date BETWEEN toDate(${p.from}) AND toDate(${p.to})`];
  if (p.type) where.push(ch`type IN (${p.type})`);
  if (p.source) where.push(ch`source IN (${p.source})`);
  if (p.kind) where.push(ch`kind = ${p.kind}`);
  return ch`SELECT event_id, kind, type, user_id, source, occurred_at, payload
    FROM ${store.table('events')} FINAL
    WHERE ${join(where, ' AND ')}
    ORDER BY occurred_at, event_id
    SETTINGS max_bytes_before_external_sort = ${EXTERNAL_SORT_BYTES}`;
};

/** A report's columns as an export writes them: integers and fractions are both numbers to a spreadsheet. */
const exportColumns = (columns: readonly ReportColumn[]): ExportColumn[] =>
  columns.map((c) => ({ key: c.name, type: c.type === 'integer' ? 'number' : c.type }));

type Download = Readonly<{
  rows: AsyncIterable<ExportRow>;
  columns: readonly ExportColumn[];
  format: ExportFormat;
  fileName: string;
  sheetName: string;
}>;

/**
 * Streams a download into the response.
 *
 * 1. The first row is read before anything is sent: a query that fails at
 *    once (the engine down, a bad query) is still answered as a problem
 *    (503 or 500), never as a file.
 * 2. Headers: type, attachment name, and `no-store`, since exports hold
 *    user ids that no cache should keep.
 * 3. The rows are written as they arrive, waiting for the client (see the
 *    writers). A failure after the headers went out cannot become a problem
 *    any more: the response is destroyed instead, so the client sees a cut
 *    connection (no final chunk) rather than a file that looks complete,
 *    and the failure is logged. A client that leaves stops the query.
 */
const sendDownload = async (req: Request, res: Response, d: Download): Promise<void> => {
  res.setHeader('Content-Type', EXPORT_MEDIA_TYPES[d.format]);
  res.setHeader('Content-Disposition', `attachment; filename="${d.fileName}"`);
  res.setHeader('Cache-Control', 'no-store');
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const reset = () => {
    res.removeHeader('Content-Type');
    res.removeHeader('Content-Disposition');
  };
  let source: Peeked<ExportRow>;
  try {
    source = await peek(d.rows);
  } catch (error) {
    reset();
    throw unavailableProblem(error);
  }
  const started = Date.now();
  const what = { export: d.fileName, format: d.format };
  try {
    const { rows } =
      d.format === 'csv'
        ? await writeCsv(source.rows, d.columns, res)
        : await writeXlsx(source.rows, d.columns, res, { sheetName: d.sheetName });
    req.log.info({ ...what, rows, ms: Date.now() - started }, 'export sent');
  } catch (error) {
    await source.close().catch(() => {});
    if (error instanceof ExportAborted) {
      req.log.info({ ...what, ms: Date.now() - started }, 'export abandoned: the client went away');
      return;
    }
    if (!res.headersSent) {
      // Nothing has gone out yet (CSV sends nothing before its first 64 KiB): still a proper problem.
      reset();
      throw unavailableProblem(error);
    }
    req.log.error(
      { ...what, err: error, ms: Date.now() - started },
      'export failed mid-stream; response cut',
    );
    res.destroy();
  }
};

/**
 * Exports of the analytics context, for admins and analysts (checked at the
 * edge and again in the handler):
 *
 * - `GET /api/analytics/reports/:name/export?format=csv|xlsx&…`: a report
 *   (the same definition, parameters and rows as its JSON route) as a file.
 * - `GET /api/analytics/events/export?format=csv|xlsx&from&to[&type][&source][&kind]`:
 *   the raw events of a range of UTC days, each once, by time.
 *
 * Both stream from `store.stream` in constant memory (see the writers in
 * `exports/`). Files are named `<report or events>-<from>-<to>.<format>`.
 *
 * @example app.use(analyticsExportRoutes({ store, verify }));
 */
export const analyticsExportRoutes = (deps: AnalyticsExportDeps): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('admin', 'analyst')];

  router.get('/api/analytics/reports/:name/export', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin', 'analyst');
    const report = reportNamed(String(req.params.name));
    const query = reportExportQuery(req.query as Record<string, unknown>);
    const params = report.params(query.params);
    if (!query.format.ok || !params.ok)
      throw validationProblem(
        [...(query.format.ok ? [] : query.format.issues), ...(params.ok ? [] : params.issues)],
        `The export of report ${report.name} is not valid.`,
      );
    const p = params.value as Readonly<{ from: string; to: string }>;
    await sendDownload(req, res, {
      rows: deps.store.stream<ExportRow>(report.sql(deps.store, params.value)),
      columns: exportColumns(report.columns),
      format: query.format.value,
      fileName: exportFileName([report.name, p.from, p.to], query.format.value),
      sheetName: report.name,
    });
  });

  router.get('/api/analytics/events/export', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin', 'analyst');
    const params = eventsExportParams(req.query);
    if (!params.ok) throw validationProblem(params.issues, 'The export of events is not valid.');
    const p = params.value;
    await sendDownload(req, res, {
      rows: deps.store.stream<ExportRow>(eventsExportSql(deps.store, p)),
      columns: EVENT_EXPORT_COLUMNS,
      format: p.format,
      fileName: exportFileName(['events', p.from, p.to], p.format),
      sheetName: 'events',
    });
  });

  return router;
};
