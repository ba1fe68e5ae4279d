// Loads a generated report in headless Chromium: the plots must render, nothing may load from the
// network, no script may run. Needs Debian's chromium at /usr/bin/chromium (or LT_CHROMIUM); never
// downloads a browser.
import * as fs from 'fs';
import * as path from 'path';
import { writeReport } from '../../src/report';
import { makeTempDir, RUN_REPORT_SECTIONS, writeRunDir } from './fixtures';
import { CHROMIUM, chromiumAvailable, withReportPage } from '../helpers/report-page';

if (!chromiumAvailable)
  console.log(`skipping report browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set LT_CHROMIUM)`);

// Browser globals used inside page.evaluate callbacks (the project compiles without the DOM lib).
declare const window: { __xss?: number };
declare const DOMParser: new () => {
  parseFromString(
    text: string,
    type: string,
  ): { documentElement: { nodeName: string }; getElementsByTagName(name: string): { length: number } };
};

(chromiumAvailable ? describe : describe.skip)('report in headless Chromium', () => {
  let root: string;
  beforeAll(() => {
    root = makeTempDir('latent-report-browser-');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('renders every plot, loads nothing external and runs no injected script', async () => {
    const runs = [
      writeRunDir(root, 'sft-k4', {
        kind: 'sft',
        latents: 4,
        finalTestLoss: 1.75,
        diagnostics: true,
        extraMetricLines: ['{"step": 3, "loss": '],
      }),
      writeRunDir(root, 'sft-k0', { kind: 'sft', latents: 0, finalTestLoss: 2.125, seed: 5 }),
      writeRunDir(root, 'rl-k4', { kind: 'rl', latents: 4, finalTestLoss: 1.5, samples: true, diagnostics: true, seed: 9 }),
    ];
    const result = await writeReport(runs, { out: path.join(root, 'report') });
    const plotFiles = result.plotPaths;

    await withReportPage(result.htmlPath, async ({ page, errors: consoleErrors, external: externalRequests }) => {
      const boxes = await page.$$eval('figure.plot > svg', (svgs) =>
        svgs.map((svg) => {
          const r = svg.getBoundingClientRect();
          return { width: r.width, height: r.height, marks: svg.querySelectorAll('path, line, text, rect').length };
        }),
      );
      expect(boxes).toHaveLength(plotFiles.length);
      for (const b of boxes) {
        expect(b.width).toBeGreaterThan(50);
        expect(b.height).toBeGreaterThan(50);
        expect(b.marks).toBeGreaterThan(10);
      }
      expect(await page.$$eval('section', (s) => s.map((e) => e.id))).toEqual(
        expect.arrayContaining([...RUN_REPORT_SECTIONS, 'rl', 'samples']),
      );
      expect(await page.$$eval('mark.latent', (m) => m.length)).toBeGreaterThan(1);
      expect(await page.evaluate(() => window.__xss)).toBeUndefined();

      // Each plots/*.svg file parses as a standalone SVG document.
      for (const file of plotFiles) {
        const svgText = fs.readFileSync(file, 'utf8');
        const parsed = await page.evaluate((text) => {
          const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
          return { root: doc.documentElement.nodeName, errors: doc.getElementsByTagName('parsererror').length };
        }, svgText);
        expect({ file: path.basename(file), ...parsed }).toEqual({ file: path.basename(file), root: 'svg', errors: 0 });
      }

      const screenshot = path.join(root, 'report.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      const png = fs.readFileSync(screenshot);
      expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
      expect(png.length).toBeGreaterThan(10_000);

      expect(consoleErrors).toEqual([]);
      expect(externalRequests).toEqual([]);
    });
  });
});
