// The overview's study tables beside the verdict table: the dose-response by k and the spread
// between seeds, from run directories shaped like the demo's (names with -s<seed>, one data
// directory per task), with numbers chosen so the means and standard deviations are exact.
import * as fs from 'fs';
import * as path from 'path';
import { writeReport } from '../../src/report';
import { makeTempDir, writeRunDir } from './fixtures';

let root: string;
beforeAll(() => {
  root = makeTempDir('report-study-');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface RunSpec {
  name: string;
  k: number;
  data?: string;
  latentInput?: string;
  markersAtZero?: boolean;
  helps?: [number, number, number];
  used?: [number, number, number];
  verdict?: string;
  accuracy: number;
}

function writeStudyRun(dir: string, s: RunSpec): string {
  const run = writeRunDir(dir, s.name, { kind: 'sft', latents: s.k, finalTestLoss: 1.5, diagnostics: false });
  fs.writeFileSync(
    path.join(run, 'config.json'),
    JSON.stringify({
      kind: 'sft',
      mode: 'full',
      latents: s.k,
      latentInput: s.latentInput ?? 'affine',
      markersAtZero: s.markersAtZero ?? false,
      data: `/runs/demo/${s.data ?? 'data'}`,
    }),
  );
  const interval = (x: [number, number, number] | undefined) => (x ? { delta: x[0], ci: [x[1], x[2]] } : undefined);
  const study = s.verdict
    ? { verdict: s.verdict, reasons: ['r1', 'r2', 'r3'], helps: interval(s.helps), used: interval(s.used) }
    : undefined;
  fs.writeFileSync(
    path.join(run, 'diagnostics.json'),
    JSON.stringify({
      ablations: [],
      decoded: [],
      recurring: [],
      ...(study ? { study } : {}),
      accuracy: { withLatents: s.accuracy, withoutLatents: s.accuracy, n: 200 },
    }),
  );
  return run;
}

test('dose-response by k and the spread between seeds, beside the verdict table', async () => {
  const dir = path.join(root, 'runs');
  const specs: RunSpec[] = [];
  for (const seed of [0, 1, 2]) {
    specs.push({ name: `baseline-k0-s${seed}`, k: 0, accuracy: 0.5 });
    // helps −0.25, −0.125, 0 over the seeds: mean −0.125, sd 0.125
    specs.push({
      name: `full-k2-s${seed}`,
      k: 2,
      verdict: 'ignored',
      helps: [-0.25 + 0.125 * seed, -0.375 + 0.125 * seed, -0.125 + 0.125 * seed],
      used: [0.0625, 0.03125, 0.09375],
      accuracy: 0.25 + 0.125 * seed,
    });
    specs.push({
      name: `full-k4-s${seed}`,
      k: 4,
      verdict: 'hurts',
      helps: [-0.5, -0.75, -0.25],
      used: [1, 0.5, 1.5],
      accuracy: 0.25,
    });
    // controls: not doses
    specs.push({ name: `pause-k2-s${seed}`, k: 2, latentInput: 'pause', verdict: 'ignored', helps: [9, 8, 10], accuracy: 0.5 });
    specs.push({ name: `markers-k0-s${seed}`, k: 0, markersAtZero: true, verdict: 'ignored', helps: [7, 6, 8], accuracy: 0.5 });
  }
  // a second task with a single k: no dose-response row for it
  specs.push({ name: 'chained-baseline-k0', k: 0, data: 'data-chained', accuracy: 0.125 });
  const runs = specs.map((s) => writeStudyRun(dir, s));
  const result = await writeReport(runs, { out: path.join(root, 'out') });
  const html = fs.readFileSync(result.htmlPath, 'utf8');
  const overview = html.slice(
    html.indexOf('<section id="overview">'),
    html.indexOf('</section>', html.indexOf('<section id="overview">')),
  );
  const dose = overview.slice(overview.indexOf('Dose-response'), overview.indexOf('Between seeds'));
  const spread = overview.slice(
    overview.indexOf('Between seeds'),
    overview.indexOf('</table>', overview.indexOf('Between seeds')),
  );
  // both after the verdict table
  expect(overview.indexOf('verdict-ignored')).toBeLessThan(overview.indexOf('Dose-response'));
  expect(overview.indexOf('Dose-response')).toBeLessThan(overview.indexOf('Between seeds'));

  const rows = (table: string) =>
    [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
      .map((m) => [...m[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1].replace(/<[^>]+>/g, '').trim()))
      .filter((cells) => cells.length > 0); // the header row
  const doseRows = rows(dose);
  // k = 0, 2, 4 on the basic task only; pause and markers-only are not doses
  expect(doseRows.map((r) => [r[0], r[1], r[2]])).toEqual([
    ['data', '0', '3'],
    ['data', '2', '3'],
    ['data', '4', '3'],
  ]);
  expect(doseRows[0][3]).toBe('reference');
  expect(doseRows[1][3]).toBe('-0.125 (-0.25 [-0.375, -0.125]; -0.125 [-0.25, 0]; 0 [-0.125, 0.125])');
  expect(doseRows[2][4]).toBe('1 (1 [0.5, 1.5]; 1 [0.5, 1.5]; 1 [0.5, 1.5])');
  expect(doseRows[1][6]).toBe('37.5% (sd 12.5%; 25% to 50%)');
  expect(dose).not.toContain('9 [8, 10]');

  const spreadRows = new Map(rows(spread).map((r) => [r[0], r]));
  expect([...spreadRows.keys()].sort()).toEqual(['baseline-k0', 'full-k2', 'full-k4', 'markers-k0', 'pause-k2']);
  expect(spreadRows.get('full-k2')).toEqual([
    'full-k2',
    '3',
    'ignored ×3',
    '-0.125 (sd 0.125; -0.25 to 0)',
    '0.0625 (sd 0; 0.0625 to 0.0625)',
    '37.5% (sd 12.5%; 25% to 50%)',
  ]);
  expect(spreadRows.get('baseline-k0')?.slice(2)).toEqual(['reference ×3', '—', '—', '50% (sd 0%; 50% to 50%)']);
});

test('no dose-response and no spread table for a single run per configuration', async () => {
  const dir = path.join(root, 'single');
  const runs = [
    writeStudyRun(dir, { name: 'baseline-k0', k: 0, accuracy: 0.5 }),
    writeStudyRun(dir, { name: 'pause-k2', k: 2, latentInput: 'pause', verdict: 'ignored', helps: [1, 0, 2], accuracy: 0.5 }),
  ];
  const html = fs.readFileSync((await writeReport(runs, { out: path.join(root, 'out-single') })).htmlPath, 'utf8');
  expect(html).toContain('verdict-ignored');
  expect(html).not.toContain('Dose-response');
  expect(html).not.toContain('Between seeds');
});
