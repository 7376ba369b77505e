/**
 * What a PDF report is made of: plain data (it crosses into the render
 * thread), one section per analytics report with its rows as the report's
 * JSON route answers them.
 */
export type ReportColumn = Readonly<{ name: string; type: 'date' | 'string' | 'integer' | 'number' }>;

export type ReportSection = Readonly<{
  report: string;
  title: string;
  description: string;
  params: Readonly<Record<string, unknown>>;
  columns: readonly ReportColumn[];
  rows: readonly Readonly<Record<string, string | number>>[];
  /** A chart drawn from the rows (column names), or none. */
  chart: Readonly<{ kind: 'line' | 'bar'; x: string; series: readonly string[] }> | null;
  /** Where every row can be exported as CSV: named when the page cap leaves rows out. */
  csvPath: string;
}>;

export type ReportDocument = Readonly<{
  title: string;
  subtitle: string | null;
  range: Readonly<{ from: string; to: string }>;
  filters: Readonly<Record<string, readonly string[]>>;
  generatedAt: string;
  /** When the newest event the numbers include was received. */
  watermark: string;
  /** The definition, as JSON, so the report can be made again. */
  query: string;
  sections: readonly ReportSection[];
  maxPages: number;
}>;
