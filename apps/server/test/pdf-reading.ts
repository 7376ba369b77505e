import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';

const run = promisify(execFile);

/**
 * Runs a poppler tool without a shell. A tool that is not installed fails
 * the test with what to do (never a skip: CI installs it through up.sh), and
 * a tool that hangs is stopped rather than waited for.
 */
const poppler = async (tool: 'pdftoppm' | 'pdftotext', args: readonly string[]): Promise<string> => {
  try {
    return (await run(tool, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }))
      .stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        `${tool} is not on the PATH: install Debian's poppler-utils (infra/local/poppler.sh; ./dev test and CI run it)`,
      );
    throw error;
  }
};

/** A PDF in a folder of its own for the tools to read; the folder is removed whatever happens. */
const withPdfFile = async <T>(pdf: Buffer, use: (file: string, dir: string) => Promise<T>): Promise<T> => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-pdf-'));
  try {
    const file = join(dir, 'report.pdf');
    await writeFile(file, pdf);
    return await use(file, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** A page as poppler draws it: RGBA, 8 bits a channel, row by row. */
export type Raster = Readonly<{ width: number; height: number; rgba: Buffer }>;

/**
 * The first page of a PDF drawn by `pdftoppm` at `dpi`, as a PNG, decoded.
 *
 * @example const page = await firstPageAsPng(pdf, 50); // A4: 414 × 585
 */
export const firstPageAsPng = (pdf: Buffer, dpi: number): Promise<Raster> =>
  withPdfFile(pdf, async (file, dir) => {
    const out = join(dir, 'page');
    // -singlefile: the PNG is page.png, not page-1.png or page-01.png by the page count's digits.
    await poppler('pdftoppm', ['-png', '-f', '1', '-l', '1', '-r', String(dpi), '-singlefile', file, out]);
    const png = PNG.sync.read(await readFile(`${out}.png`));
    return { width: png.width, height: png.height, rgba: png.data };
  });

/**
 * The text of every page as `pdftotext -layout` reads it: a table's row on
 * one line, its cells apart by spaces; pages end with a form feed.
 *
 * @example (await pdfText(pdf)).split('\f')[0] // the title page
 */
export const pdfText = (pdf: Buffer): Promise<string> =>
  withPdfFile(pdf, (file) => poppler('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-']));

/**
 * What is on a page: the share of pixels that are not white (ink of any
 * colour, anti-aliasing included), the share that are dark (text), and how
 * many colours there are. A blank page is all white; a broken one is often
 * all one colour.
 */
export const inkOf = (page: Raster): { inked: number; dark: number; colours: number } => {
  const pixels = page.width * page.height;
  const colours = new Set<number>();
  let inked = 0;
  let dark = 0;
  for (let i = 0; i < page.rgba.length; i += 4) {
    const [r, g, b] = [page.rgba[i]!, page.rgba[i + 1]!, page.rgba[i + 2]!];
    colours.add((r << 16) | (g << 8) | b);
    if (r < 245 || g < 245 || b < 245) inked++;
    if (0.299 * r + 0.587 * g + 0.114 * b < 128) dark++;
  }
  return { inked: inked / pixels, dark: dark / pixels, colours: colours.size };
};
