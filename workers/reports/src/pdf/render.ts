import PDFDocument from 'pdfkit';
import type { ReportColumn, ReportDocument, ReportSection } from './document.ts';

type Doc = InstanceType<typeof PDFDocument>;

const MARGIN = 50;
const PAGE = { width: 595.28, height: 841.89 }; // A4, points
const INNER = PAGE.width - 2 * MARGIN;
const BOTTOM = PAGE.height - MARGIN;
const ROW = 14;
/** The height of one note of what the page cap left out (two lines). */
const NOTE = 22;
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

// What Helvetica's WinAnsi encoding has besides Latin-1: the rest would print as nothing, or worse.
const WIN_ANSI_EXTRA = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');

/**
 * Text as the standard fonts can print it: a character WinAnsi lacks (an
 * emoji, CJK, a lone surrogate) becomes `?`, control characters a space.
 * Course names and event types come from users.
 *
 * @example safeText('Kurs 🎓 über 日本') // 'Kurs ? über ??'
 */
export const safeText = (text: string): string =>
  Array.from(text, (c) => {
    const p = c.codePointAt(0)!;
    if (p < 0x20 || (p >= 0x7f && p < 0xa0)) return ' ';
    if (p <= 0xff || WIN_ANSI_EXTRA.has(c)) return c;
    return '?';
  }).join('');

/**
 * A cell as the table shows it: integers grouped, fractions to three places.
 * ClickHouse answers 64-bit integers as JSON strings, so a digit string in an
 * integer column is grouped too (as a BigInt: no rounding past 2^53).
 */
const cellText = (value: string | number | undefined, column: ReportColumn): string => {
  if (value === undefined) return '';
  if (column.type === 'number' && typeof value === 'number' && Number.isFinite(value))
    return value.toFixed(3);
  if (column.type === 'integer' && typeof value === 'number' && Number.isFinite(value))
    return value.toLocaleString('en-US');
  if (column.type === 'integer' && typeof value === 'string' && /^-?\d+$/.test(value))
    return BigInt(value).toLocaleString('en-US');
  return safeText(String(value));
};

const isNumeric = (c: ReportColumn) => c.type === 'integer' || c.type === 'number';

/** Column widths over the page: text gets twice a number's room, a date a little more than a number. */
const columnWidths = (columns: readonly ReportColumn[]): number[] => {
  const weights = columns.map((c) => (c.type === 'string' ? 2 : c.type === 'date' ? 1.2 : 1));
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  return weights.map((w) => (INNER * w) / sum);
};

/** A chart value: a missing, non-numeric or negative cell is drawn as 0 (a NaN would corrupt the path). */
const plotValue = (v: string | number | undefined): number => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
};

/** The text cut with an ellipsis to fit `width` at the current font: a cell never runs into the next. */
const fit = (doc: Doc, text: string, width: number): string => {
  if (doc.widthOfString(text) <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (doc.widthOfString(`${text.slice(0, mid)}…`) <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
};

/** A round step for an axis from 0 to `max` in about four steps (1, 2 or 5 times a power of ten). */
const niceStep = (max: number): number => {
  const raw = Math.max(max, 1) / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
};

/**
 * A chart of the section's rows in the box (x, y, w, h), drawn as vector
 * paths (sharp at any zoom, a few hundred bytes): a y axis from 0 with about
 * four labelled gridlines, x ticks with about six labels, a legend above
 * the plot when there are several series.
 */
const drawChart = (doc: Doc, s: ReportSection, x: number, y: number, w: number, h: number) => {
  const chart = s.chart!;
  const values = s.rows.map((r) => chart.series.map((k) => plotValue(r[k])));
  // A reduce, not Math.max(...): tens of thousands of arguments overflow the stack.
  const max = values.flat().reduce((a, b) => Math.max(a, b), 1);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const left = x + 40;
  const plotW = w - 40;
  const plotH = h - 24;
  const n = s.rows.length;
  const yOf = (v: number) => y + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(n, 1);
  // A line's points span the axis; a bar sits in the middle of its slot.
  const xOf = (i: number) =>
    chart.kind === 'bar' ? left + slot * (i + 0.5) : left + (n > 1 ? (plotW * i) / (n - 1) : plotW / 2);

  doc.font('Helvetica').fontSize(7).fillColor('#333333').lineWidth(0.5);
  for (let v = 0; v <= top + 1e-9; v += step) {
    doc.strokeColor(v === 0 ? '#333333' : '#cccccc');
    doc
      .moveTo(left, yOf(v))
      .lineTo(left + plotW, yOf(v))
      .stroke();
    doc.text(v.toLocaleString('en-US'), x, yOf(v) - 3, { width: 36, align: 'right', lineBreak: false });
  }
  doc
    .strokeColor('#333333')
    .moveTo(left, y)
    .lineTo(left, y + plotH)
    .stroke();
  const labelEvery = Math.max(1, Math.ceil(n / 6));
  const labelW = Math.min(slot * labelEvery, plotW / 3);
  for (let i = 0; i < n; i += labelEvery) {
    doc
      .moveTo(xOf(i), y + plotH)
      .lineTo(xOf(i), y + plotH + 3)
      .stroke();
    const label = fit(doc, safeText(String(s.rows[i]![chart.x] ?? '')), labelW - 2);
    // Centred under its tick, but kept inside the plot's width: the first and last would run into the margins.
    const centred = xOf(i) - labelW / 2;
    const x = Math.min(Math.max(centred, left), left + plotW - labelW);
    const align = x > centred ? 'left' : x < centred ? 'right' : 'center';
    doc.text(label, x, y + plotH + 5, { width: labelW, align, lineBreak: false });
  }

  chart.series.forEach((_, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    if (chart.kind === 'line') {
      doc.lineWidth(1.2).strokeColor(colour);
      values.forEach((v, i) => (i === 0 ? doc.moveTo(xOf(i), yOf(v[k]!)) : doc.lineTo(xOf(i), yOf(v[k]!))));
      if (n > 0) doc.stroke();
    } else {
      const bar = (slot * 0.8) / chart.series.length;
      doc.fillColor(colour);
      values.forEach((v, i) => {
        const bx = left + slot * i + slot * 0.1 + bar * k;
        doc.rect(bx, yOf(v[k]!), Math.max(bar - 0.5, 0.5), y + plotH - yOf(v[k]!)).fill();
      });
    }
  });

  if (chart.series.length > 1) {
    let lx = left;
    chart.series.forEach((name, k) => {
      const label = safeText(name);
      doc
        .fillColor(PALETTE[k % PALETTE.length]!)
        .rect(lx, y - 14, 8, 8)
        .fill();
      doc.fillColor('#333333').text(label, lx + 11, y - 13, { lineBreak: false });
      lx += 11 + doc.widthOfString(label) + 14;
    });
  }
  doc.fillColor('black').strokeColor('black').lineWidth(1);
};

/** The title page: what the report covers, how fresh its data is, and its sections. */
const drawTitlePage = (doc: Doc, report: ReportDocument) => {
  doc.font('Helvetica-Bold').fontSize(24).text(safeText(report.title), { width: INNER });
  if (report.subtitle) doc.moveDown(0.3).font('Helvetica').fontSize(13).text(safeText(report.subtitle));
  doc.moveDown(1).font('Helvetica').fontSize(11);
  doc.text(`Range: ${report.range.from} to ${report.range.to} (UTC days)`);
  // One line per filter, however many values: the title page must stay one page.
  for (const [name, values] of Object.entries(report.filters))
    doc.text(fit(doc, safeText(`${name}: ${values.join(', ')}`), INNER), { width: INNER });
  doc.text(`Generated: ${report.generatedAt}`);
  doc.text(`Data as of: ${report.watermark}`);
  doc.moveDown(1).font('Helvetica-Bold').text('Contents');
  doc.font('Helvetica');
  report.sections.forEach((s, i) => doc.text(safeText(`${i + 1}. ${s.title}`)));
};

/** What the page cap left out, at the foot of the last page (kept free for it): what, then where to export it. */
const drawNotes = (doc: Doc, notes: readonly (readonly [string, string])[]) => {
  doc.switchToPage(doc.bufferedPageRange().count - 1);
  notes.forEach(([what, path], i) => {
    const y = BOTTOM - NOTE * (notes.length - i);
    doc.fillColor('#aa0000').font('Helvetica-Bold').fontSize(8);
    doc.text(fit(doc, safeText(what), INNER), MARGIN, y, { lineBreak: false });
    doc.font('Helvetica').text(fit(doc, safeText(path), INNER), MARGIN, y + NOTE / 2, { lineBreak: false });
  });
  doc.fillColor('black');
};

/** "Page n of N" in every page's bottom margin, which must not make pdfkit start a page meanwhile. */
const numberPages = (doc: Doc) => {
  const total = doc.bufferedPageRange().count;
  for (let i = 0; i < total; i++) {
    doc.switchToPage(i);
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font('Helvetica').fontSize(8).fillColor('#666666');
    doc.text(`Page ${i + 1} of ${total}`, MARGIN, PAGE.height - MARGIN / 2 - 4, {
      width: INNER,
      align: 'center',
      lineBreak: false,
    });
    doc.page.margins.bottom = bottom;
  }
};

/**
 * Renders a report document with pdfkit's standard fonts: a title page, then
 * per section a heading, a vector chart and a table (its header repeated on
 * each page), "Page n of N" on every page, and the query, parameters and
 * watermark in the info dictionary. Never more than `maxPages`: what the cap
 * leaves out is counted and its CSV export named. Deterministic: the same
 * document gives the same bytes (its dates are the document's own).
 *
 * @example const pdf = await renderPdf(doc); // a Buffer starting with %PDF-
 */
export const renderPdf = (report: ReportDocument, opts: { compress?: boolean } = {}): Promise<Buffer> => {
  const created = new Date(report.generatedAt);
  // The info dictionary takes any Unicode (pdfkit writes UTF-16), so it keeps
  // the title as given. The custom keys go in before the document exists
  // because pdfkit derives the file's /ID from the info it is created with.
  const info: PDFKit.DocumentInfo & Record<string, string | Date> = {
    Title: report.title,
    Author: 'Lectern',
    Subject: `Analytics ${report.range.from} to ${report.range.to}`,
    Keywords: report.sections.map((s) => s.report).join(', '),
    CreationDate: created,
    ModDate: created,
    LecternQuery: report.query,
    LecternParameters: JSON.stringify(Object.fromEntries(report.sections.map((s) => [s.report, s.params]))),
    LecternWatermark: report.watermark,
  };
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    bufferPages: true,
    compress: opts.compress ?? true,
    info,
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const pages = () => doc.bufferedPageRange().count;
  const canAddPage = () => pages() < Math.max(1, report.maxPages);
  // On the last page the table stops short, leaving room to say what the cap left out.
  const reserve = NOTE * report.sections.length + 6;
  const floor = () => (canAddPage() ? BOTTOM : BOTTOM - reserve);
  /** What the cap left out: a line saying so, and the export's path on a line of its own. */
  const notes: (readonly [string, string])[] = [];

  drawTitlePage(doc, report);

  for (const [index, s] of report.sections.entries()) {
    if (!canAddPage()) {
      for (const rest of report.sections.slice(index))
        notes.push([`Not shown (page cap): ${rest.title}; all its rows:`, rest.csvPath]);
      break;
    }
    doc.addPage();
    doc.font('Helvetica-Bold').fontSize(16).text(safeText(s.title), { width: INNER });
    doc.font('Helvetica').fontSize(9).fillColor('#333333').text(safeText(s.description), { width: INNER });
    doc.fillColor('black').moveDown(0.5);
    if (s.chart && s.rows.length) {
      const y = doc.y + 14;
      drawChart(doc, s, MARGIN, y, INNER, 200);
      doc.y = y + 210;
      doc.x = MARGIN;
    }
    // The table: every cell of a row is drawn at the row's y (pdfkit moves
    // doc.y after each text), cut to its column's width.
    const widths = columnWidths(s.columns);
    const lefts = widths.map((_, i) => MARGIN + widths.slice(0, i).reduce((a, b) => a + b, 0));
    const drawRow = (cells: string[]) => {
      const y = doc.y;
      s.columns.forEach((c, i) =>
        doc.text(fit(doc, cells[i]!, widths[i]! - 6), lefts[i]!, y, {
          width: widths[i]! - 6,
          align: isNumeric(c) ? 'right' : 'left',
          lineBreak: false,
        }),
      );
      doc.x = MARGIN;
      doc.y = y + ROW;
    };
    const header = () => {
      doc.font('Helvetica-Bold').fontSize(8);
      drawRow(s.columns.map((c) => safeText(c.name)));
      doc
        .moveTo(MARGIN, doc.y - 4)
        .lineTo(MARGIN + INNER, doc.y - 4)
        .lineWidth(0.5)
        .stroke();
      doc.font('Helvetica').fontSize(8);
    };
    header();
    for (const [i, row] of s.rows.entries()) {
      if (doc.y + ROW > floor()) {
        if (!canAddPage()) {
          const left = s.rows.length - i;
          notes.push([`${s.title}: ${left} more rows are not shown (page cap); all of them:`, s.csvPath]);
          break;
        }
        doc.addPage();
        header();
      }
      drawRow(s.columns.map((c) => cellText(row[c.name], c)));
    }
    if (s.rows.length === 0) doc.font('Helvetica-Oblique').text('No rows in this range.').font('Helvetica');
  }

  if (notes.length) drawNotes(doc, notes);
  numberPages(doc);
  doc.end();
  return done;
};
