export {
  analyticsIngestRoutes,
  ingestMessages,
  type IngestCaller,
  type IngestRouteDeps,
} from './ingest-routes.ts';
export { ingestKeyChecker, ingestKeyDigest, type IngestKeyMatch } from './ingest-keys.ts';
