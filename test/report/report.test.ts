import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { command as reportCommand, defaultReportDir } from '../../src/cli/commands/report';
import { loadCommands } from '../../src/cli/main';
import { highlightSpans, readRun, writeReport } from '../../src/report';
import { assertWellFormedSvg, makeTempDir, RUN_REPORT_SECTIONS, SCRIPT, writeRunDir, XSS } from './fixtures';

const MALFORMED_LINES = ['{"step": 5, "loss": nul', '[1, 2]', '{"loss": 3}', '{"step": 201, "loss": null}'];

let root: string;
let sftK4: string;
let sftK0: string;
let rlK4: string;

beforeAll(() => {
  root = makeTempDir('latent-report-');
  sftK4 = writeRunDir(root, 'sft-k4', {
    kind: 'sft',
    latents: 4,
    finalTestLoss: 1.75,
    diagnostics: true,
    extraMetricLines: MALFORMED_LINES,
  });
  sftK0 = writeRunDir(root, 'sft-k0', { kind: 'sft', latents: 0, finalTestLoss: 2.125, seed: 7 });
  rlK4 = writeRunDir(root, 'rl-k4', { kind: 'rl', latents: 4, finalTestLoss: 1.5, samples: true, diagnostics: true, seed: 3 });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const write = (dir: string, name: string, content: string) => fs.writeFileSync(path.join(dir, name), content);
const freshDir = (name: string) => {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
const inlineSvgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];

describe('readRun', () => {
  test('skips and counts malformed JSONL lines, naming file and line', () => {
    const run = readRun(sftK4);
    expect(run.name).toBe('sft-k4');
    expect(run.config).toMatchObject({ kind: 'sft', mode: 'full', latents: 4, model: 'Qwen/Qwen2-0.5B' });
    expect(run.skippedLines).toBe(3);
    expect(run.metrics).toHaveLength(201); // 200 good lines + step 201 whose only value was null
    expect(run.metrics.at(-1)).toEqual({ step: 201 });
    const where = run.issues.map((i) => `${i.file}:${i.line}`);
    expect(where).toEqual(['metrics.jsonl:201', 'metrics.jsonl:202', 'metrics.jsonl:203', 'metrics.jsonl:204']);
    expect(run.issues[0].message).toMatch(/not valid JSON/);
    expect(run.issues[1].message).toMatch(/found an array/);
    expect(run.issues[2].message).toMatch(/no numeric "step"/);
    expect(run.issues[3].message).toMatch(/"loss" was not a finite number in 1 record/);
    expect(run.evals.map((e) => `${e.step}/${e.split}`).slice(0, 2)).toEqual(['50/validation', '50/test']);
    expect(run.diagnostics?.spanLengths).toEqual([
      { length: 0, count: 3 },
      { length: 1, count: 10 },
      { length: 2, count: 25 },
      { length: 3, count: 14 },
      { length: 4, count: 6 },
    ]);
    expect(run.diagnostics?.decoded[0].nearest[0]).toEqual({ token: '24', score: 0.61 });
  });

  test('missing files leave their sections absent', () => {
    const dir = freshDir('config-only');
    write(dir, 'config.json', JSON.stringify({ kind: 'pretrain', latents: 0 }));
    const run = readRun(dir);
    expect(run).toMatchObject({ metrics: [], evals: [], samples: [], issues: [], skippedLines: 0 });
    expect(run.diagnostics).toBeUndefined();
  });

  test('refuses a missing directory and one that holds no run files', () => {
    expect(() => readRun(path.join(root, 'nope'))).toThrow(/run directory not found/);
    expect(() => readRun(freshDir('empty'))).toThrow(/is not a run directory/);
  });

  test('reports bad config, bad splits, repeated steps, bad spans and malformed diagnostics sections', () => {
    const dir = freshDir('messy');
    write(dir, 'config.json', '{"kind": "sft", ');
    write(
      dir,
      'metrics.jsonl',
      ['{"step": 1, "loss": 3}', '{"step": 2, "loss": 2.5}', '{"step": 2, "loss": 2.4}', ''].join('\n'),
    );
    write(dir, 'evals.jsonl', ['{"step": 2, "split": "train", "loss": 1}', '{"step": 2, "split": "test", "loss": 2}'].join('\n'));
    write(dir, 'samples.jsonl', JSON.stringify({ step: 1, question: 'q', text: 'abc', spans: [[0, 2], [2, 9], 'x'] }) + '\n');
    write(
      dir,
      'diagnostics.json',
      JSON.stringify({
        ablations: 'oops',
        spanLengths: { '1': 2, two: 3 },
        recurring: [{ token: 'a', count: 2 }],
        norms: { latent: 1.5 },
      }),
    );
    const run = readRun(dir);
    expect(run.config).toBeUndefined();
    expect(run.metrics).toEqual([
      { step: 1, loss: 3 },
      { step: 2, loss: 2.4 },
    ]);
    expect(run.evals).toEqual([{ step: 2, split: 'test', loss: 2 }]);
    expect(run.skippedLines).toBe(1);
    expect(run.samples[0].spans).toEqual([[0, 2]]);
    expect(run.diagnostics).toEqual({
      ablations: [],
      decoded: [],
      recurring: [{ token: 'a', count: 2 }],
      norms: { latent: 1.5 },
    });
    const messages = run.issues.map((i) => `${i.file}${i.line ? ':' + i.line : ''} ${i.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config\.json not valid JSON/),
        expect.stringMatching(/^metrics\.jsonl 1 record\(s\) repeated an earlier step/),
        expect.stringMatching(/^evals\.jsonl:1 "split" must be one of validation, test \(found "train"\)/),
        expect.stringMatching(/^samples\.jsonl:1 span \[2,9\] is not a \[start, end\] pair within the text \(length 3\)/),
        expect.stringMatching(/^samples\.jsonl:1 span "x"/),
        expect.stringMatching(/^diagnostics\.json "ablations" should be a list/),
        expect.stringMatching(/^diagnostics\.json "spanLengths" should be an object mapping span lengths to counts/),
      ]),
    );
  });
});

describe('highlightSpans', () => {
  test('escapes text, merges overlapping spans and clamps to the text', () => {
    expect(
      highlightSpans('a<b>cdef', [
        [3, 5],
        [1, 4],
        [7, 99],
        [6, 6],
      ]).value,
    ).toBe('a<mark class="latent">&lt;b&gt;c</mark>de<mark class="latent">f</mark>');
  });
});

describe('writeReport', () => {
  test('one run: report.html with its sections, numbers and inline SVGs matching plots/*.svg', async () => {
    const out = path.join(root, 'out-single');
    const result = await writeReport([sftK4], { out });
    expect(result.htmlPath).toBe(path.join(out, 'report.html'));
    expect(result.plotWarnings).toEqual([]);
    const html = fs.readFileSync(result.htmlPath, 'utf8');
    for (const id of RUN_REPORT_SECTIONS) {
      expect(html).toContain(`<section id="${id}">`);
    }
    expect(html).not.toContain('<section id="rl">');
    expect(html).not.toContain('<section id="samples">');
    expect(html).toContain('<title>Run sft-k4</title>');
    expect(html).toMatch(/<td class="num">1\.75<\/td>/); // final test loss
    expect(html).toMatch(/<td class="num">201<\/td>/); // steps
    expect(html).toContain('43.8% (n=160)');
    expect(html).toContain('31.3% (n=160)');
    expect(html).toContain('Verdict: <b>helps</b>');
    expect(html).toContain('the content is used and the run beats its reference');
    // the overview opens with the verdict table, the numbers and CIs beside each verdict
    const overview = html.slice(html.indexOf('<section id="overview">'), html.indexOf('<section id="curves">'));
    expect(overview.indexOf('<b class="verdict-helps">helps</b>')).toBeGreaterThan(0);
    expect(overview.indexOf('verdict-helps')).toBeLessThan(overview.indexOf('final train loss'));
    for (const cell of ['0.25 [0.125, 0.375]', '0.6 [0.5, 0.75]', '0.0625 [-0.0625, 0.1875]', '1.5 [1.25, 1.75]', 'sft-k0'])
      expect(overview).toContain(cell);
    expect(html).toContain('<b>62.5%</b> of latents');
    expect(html).toContain('<code>48/2 = 24</code>');
    expect(html).toContain('58 spans, mean length 2.172.');
    // start classifier at its calibrated threshold, spurious spans, end classifier against its schedule
    for (const n of ['0.8125', '0.9125', '0.1875', '1.25', '0.9375', '0.6875', '0.4375'])
      expect(html).toContain(`<td class="num">${n}</td>`);
    expect(html).toContain('End classifier against the run');
    expect(html).toContain('<code>metrics.jsonl:201</code> not valid JSON');

    const files = fs.readdirSync(path.join(out, 'plots')).sort();
    expect(files).toEqual(result.plotPaths.map((p) => path.basename(p)).sort());
    expect(files).toEqual(
      expect.arrayContaining([
        'loss.svg',
        'next-step-loss.svg',
        'ablations-sft-k4.svg',
        'recurring-tokens-sft-k4.svg',
        'norms.svg',
        'span-lengths-sft-k4.svg',
        'start-classifier.svg',
      ]),
    );
    const inline = inlineSvgs(html);
    expect(inline).toHaveLength(files.length);
    for (const p of result.plotPaths) {
      const svg = fs.readFileSync(p, 'utf8');
      assertWellFormedSvg(svg);
      expect(inline).toContain(svg.trim());
    }
    // Self-contained: no scripts, stylesheets, images or URLs other than XML namespaces.
    const withoutNamespaces = html.replace(/xmlns(:\w+)?="[^"]*"/g, '');
    expect(withoutNamespaces.match(/https?:\/\/|<script|<link|<img|<[^>]*\s(src|href)="(?!#|plots\/)/i)?.[0]).toBeUndefined();
    // Element ids are unique across the inlined SVGs.
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('several runs: baseline delta, side-by-side panels, RL curves and rollouts', async () => {
    const out = path.join(root, 'out-compare');
    const result = await writeReport([sftK4, sftK0, rlK4], { out, title: 'k=4 vs k=0' });
    expect(result.plotWarnings).toEqual([]);
    const html = fs.readFileSync(result.htmlPath, 'utf8');
    expect(html).toContain('<th class="num">Δ test loss vs sft-k0</th>');
    expect(html).toMatch(/<td class="num">-0\.375<\/td>/);
    expect(html).toMatch(/<td class="num">-0\.625<\/td>/);
    const loss = fs.readFileSync(path.join(out, 'plots', 'loss.svg'), 'utf8');
    for (const panel of ['sft-k4 (k=4)', 'sft-k0 (k=0 baseline)', 'rl-k4 (k=4)']) expect(loss).toContain(`>${panel}</text>`);
    expect(fs.existsSync(path.join(out, 'plots', 'loss-eval-by-run.svg'))).toBe(true);
    for (const id of ['rl', 'samples']) expect(html).toContain(`<section id="${id}">`);
    for (const plot of ['reward', 'accuracy', 'kl', 'clip-fraction', 'entropy', 'spans-per-answer'])
      expect(fs.existsSync(path.join(out, 'plots', `${plot}.svg`))).toBe(true);
    expect(html).toContain('<h3>rl-k4</h3>');
    expect(html).toContain('Latest 2 of 2 rollouts.');
    expect(html).toContain('<mark class="latent">&lt;&lt;48/2=24&gt;&gt;</mark>24 clips');
    // Per-run diagnostics appear once per run that has them.
    expect(html.match(/Verdict: <b>helps<\/b>/g)).toHaveLength(2);
  });

  test('escapes run-directory text everywhere (HTML injection)', async () => {
    const hostile = writeRunDir(root, 'hostile', {
      kind: 'rl',
      latents: 2,
      finalTestLoss: 1.5,
      samples: true,
      diagnostics: true,
      mode: `${XSS}${SCRIPT}`,
    });
    const out = path.join(root, 'out-hostile');
    const result = await writeReport([hostile], { out, title: `Title ${SCRIPT}` });
    const html = fs.readFileSync(result.htmlPath, 'utf8');
    expect(html).not.toContain(XSS);
    expect(html).not.toContain(SCRIPT);
    expect(html.match(/<script|<img/i)?.[0]).toBeUndefined();
    expect(html).toContain('<title>Title &lt;script&gt;window.__xss=2&lt;/script&gt;</title>');
    expect(html).toContain('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;');
    for (const p of result.plotPaths) expect(fs.readFileSync(p, 'utf8').match(/<script|<img/i)?.[0]).toBeUndefined();
  });

  test('is deterministic and removes plots a previous report left behind', async () => {
    const out = path.join(root, 'out-rerun');
    fs.mkdirSync(path.join(out, 'plots'), { recursive: true });
    write(path.join(out, 'plots'), 'stale.svg', '<svg/>');
    write(path.join(out, 'plots'), 'notes.txt', 'mine');
    const first = await writeReport([rlK4, sftK0], { out });
    const html = fs.readFileSync(first.htmlPath, 'utf8');
    const svgs = first.plotPaths.map((p) => fs.readFileSync(p, 'utf8'));
    expect(fs.existsSync(path.join(out, 'plots', 'stale.svg'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'plots', 'notes.txt'))).toBe(true);
    const second = await writeReport([rlK4, sftK0], { out });
    expect(fs.readFileSync(second.htmlPath, 'utf8')).toBe(html);
    expect(second.plotPaths.map((p) => fs.readFileSync(p, 'utf8'))).toEqual(svgs);
    expect(html).toContain('<title>Runs rl-k4, sft-k0</title>');
  });

  test('runs whose directories share a name get distinct names', async () => {
    const a = writeRunDir(path.join(root, 'a'), 'run', { kind: 'sft', latents: 1, finalTestLoss: 1.5, steps: 50 });
    const b = writeRunDir(path.join(root, 'b'), 'run', { kind: 'sft', latents: 0, finalTestLoss: 2, steps: 50 });
    const result = await writeReport([a, b], { out: path.join(root, 'out-dupe') });
    expect(result.runs.map((r) => r.name)).toEqual(['run', 'run-2']);
  });

  test('refuses an empty list of runs', async () => {
    await expect(writeReport([], { out: path.join(root, 'never') })).rejects.toThrow(/at least one run directory/);
  });
});

describe('latent report command', () => {
  test('is discovered by the CLI', () => {
    expect(loadCommands().map((c) => String(c.command))).toContain('report <rundirs..>');
  });

  test('writes the report and prints its path; defaults to RUNDIR/report', async () => {
    const lines: string[] = [];
    const errors: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    const err = jest
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk: string | Uint8Array) => errors.push(String(chunk)) > 0);
    try {
      await yargs(['report', sftK4, '--title', 'CLI run']).command(reportCommand).strict().parseAsync();
      await yargs(['report', sftK0, rlK4, '--out', path.join(root, 'cli-out')])
        .command(reportCommand)
        .strict()
        .parseAsync();
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    expect(lines).toEqual([path.join(sftK4, 'report', 'report.html'), path.join(root, 'cli-out', 'report.html')]);
    expect(fs.readFileSync(lines[0], 'utf8')).toContain('<title>CLI run</title>');
    expect(errors.join('')).toMatch(/sft-k4: skipped 3 unreadable line\(s\)/);
    expect(defaultReportDir([sftK4])).toBe(path.join(sftK4, 'report'));
    expect(defaultReportDir([sftK4, sftK0])).toBe(path.resolve('latent-report'));
  });
});

describe('k = 0 runs', () => {
  test('have no "accuracy with latents": the overview shows —, the utilisation section one accuracy', async () => {
    const k0 = writeRunDir(root, 'k0-with-diagnostics', {
      kind: 'sft',
      latents: 0,
      finalTestLoss: 2,
      diagnostics: true,
      seed: 11,
    });
    const out = freshDir('k0-report');
    const result = await writeReport([k0], { out });
    const page = fs.readFileSync(result.htmlPath, 'utf8');
    const overview = page.slice(
      page.indexOf('accuracy with latents'),
      page.indexOf('</table>', page.indexOf('accuracy with latents')),
    );
    expect(overview).toContain('31.3% (n=160)'); // without latents
    expect(overview).not.toContain('43.8%'); // the fixture's "with latents" value is not shown for k = 0
    expect(page).toContain('(k = 0: no latents)');
    expect(page).not.toContain('Answer accuracy with latents');
  });
});
