// The demo's report in headless Chromium: every plot renders with real marks, every section is there,
// nothing loads from the network and the page logs no error. Needs Debian's chromium at
// /usr/bin/chromium (or LT_CHROMIUM); never downloads a browser.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runDemo, type DemoResult } from '../../src/demo/run';
import { CHROMIUM, chromiumAvailable, withReportPage } from '../helpers/report-page';

if (!chromiumAvailable)
  console.log(`skipping the demo report browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set LT_CHROMIUM)`);

(chromiumAvailable ? describe : describe.skip)('demo report in headless Chromium', () => {
  let root: string;
  let result: DemoResult;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-demo-browser-'));
    result = await runDemo({ out: path.join(root, 'demo'), size: 'tiny', quiet: true, log: () => undefined, tokenizer: 'bpe' });
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('renders every plot of the demo report', async () => {
    const plotFiles = fs.readdirSync(path.join(path.dirname(result.reportPath), 'plots')).filter((f) => f.endsWith('.svg'));
    await withReportPage(result.reportPath, async ({ page, errors, external }) => {
      const figures = await page.$$eval('figure.plot', (figs) =>
        figs.map((f) => {
          const svg = f.querySelector('svg');
          const r = svg?.getBoundingClientRect();
          return {
            width: r?.width ?? 0,
            height: r?.height ?? 0,
            marks: svg ? svg.querySelectorAll('path, line, rect, text').length : 0,
            link: f.querySelector('figcaption a')?.getAttribute('href') ?? '',
          };
        }),
      );
      expect(figures.length).toBe(plotFiles.length);
      for (const f of figures) {
        expect(f.width).toBeGreaterThan(50);
        expect(f.height).toBeGreaterThan(50);
        expect(f.marks).toBeGreaterThan(10);
        expect(plotFiles).toContain(path.basename(f.link));
      }
      // the plots the demo exists for
      for (const name of ['loss.svg', 'result-loss.svg', 'ablations-full-k2.svg', 'ablations-two-trunk-k2.svg', 'norms.svg'])
        expect(plotFiles).toContain(name);
      const sections = await page.$$eval('section', (s) => s.map((e) => e.id));
      expect(sections).toEqual(
        expect.arrayContaining(['overview', 'curves', 'utilisation', 'decoded', 'norms', 'span-lengths', 'start-classifier']),
      );
      // the overview table lists the three phase-1 runs
      const rows = await page.$$eval('#overview tbody tr td:first-child', (cells) => cells.map((c) => c.textContent ?? ''));
      expect(rows).toEqual(expect.arrayContaining(['full-k2', 'two-trunk-k2', 'baseline-k0']));
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    });
  });
});
