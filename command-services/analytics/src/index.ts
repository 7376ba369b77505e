export {
  analyticsIngestRoutes,
  ingestMessages,
  type IngestCaller,
  type IngestRouteDeps,
} from './ingest-routes.ts';
export { ingestKeyChecker, ingestKeyDigest, type IngestKeyMatch } from './ingest-keys.ts';
export { pdfReportRoutes, type PdfReportDeps } from './pdf-routes.ts';
export { pdfReportLedger, type PdfReportLedger } from './pdf-ledger.ts';
export { pdfJobDecider, pdfScheduleDecider, type PdfJob, type PdfSchedule } from './domain/pdf-reports.ts';
