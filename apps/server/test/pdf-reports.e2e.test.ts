import test from 'ava';
import { pdfReportsFlow } from './pdf-reports-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, pdfReportsFlow, { clickhouse: true, blobs: true });
