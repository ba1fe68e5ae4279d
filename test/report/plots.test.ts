import {
  countBarSpec,
  downsampleLines,
  intervalBarSpec,
  lineChartSpec,
  namespaceSvgIds,
  renderSvg,
  type LinePoint,
} from '../../src/report/plots';
import { assertWellFormedSvg } from './fixtures';

const textContents = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('namespaceSvgIds', () => {
  test('renames ids in order of appearance and rewrites their references', () => {
    const svg =
      '<svg><defs><clipPath id="clip7"/><linearGradient id="g3"/></defs><g clip-path="url(#clip7)"><use href="#g3"/><rect fill="url(#g3)"/></g></svg>';
    expect(namespaceSvgIds(svg, 'Loss Plot')).toBe(
      '<svg><defs><clipPath id="loss-plot-1"/><linearGradient id="loss-plot-2"/></defs><g clip-path="url(#loss-plot-1)"><use href="#loss-plot-2"/><rect fill="url(#loss-plot-2)"/></g></svg>',
    );
  });
  test('leaves an SVG without ids unchanged', () => {
    expect(namespaceSvgIds('<svg><rect/></svg>', 'p')).toBe('<svg><rect/></svg>');
  });
});

describe('downsampleLines', () => {
  const line = (series: string, n: number, extra: Partial<LinePoint> = {}): LinePoint[] =>
    Array.from({ length: n }, (_, i) => ({ step: i + 1, value: 2 * (i + 1), series, split: 'train' as const, ...extra }));

  test('averages long lines over equal buckets and keeps short ones', () => {
    const { points, bucket } = downsampleLines([...line('a', 1000, { lo: 0, hi: 4 }), ...line('b', 10)], 100);
    expect(bucket).toBe(10);
    const a = points.filter((p) => p.series === 'a');
    expect(a).toHaveLength(100);
    expect(a[0]).toEqual({ series: 'a', split: 'train', step: 5.5, value: 11, lo: 0, hi: 4 });
    expect(a[99].step).toBe(995.5);
    expect(points.filter((p) => p.series === 'b')).toEqual(line('b', 10));
  });
  test('treats each (panel, series, split) as its own line', () => {
    const pts = [...line('a', 30, { panel: 'x' }), ...line('a', 30, { panel: 'y' }), ...line('a', 30, { split: 'test' })];
    const { points } = downsampleLines(pts, 10);
    expect(points).toHaveLength(30);
    expect(new Set(points.map((p) => `${p.panel}/${p.split}`))).toEqual(new Set(['x/train', 'y/train', 'undefined/test']));
  });
  test('rejects a bucket target below 2', () => {
    expect(() => downsampleLines([], 1)).toThrow(/at least 2/);
  });
});

describe('rendering', () => {
  const points: LinePoint[] = [];
  for (let step = 0; step <= 40; step++) {
    points.push({ step, value: 3 - step / 20, series: 'run-a', split: 'train' });
    points.push({ step, value: 3.2 - step / 25, series: 'run-b', split: 'train' });
  }
  for (const step of [10, 20, 30, 40]) {
    points.push({ step, value: 2.9 - step / 20, series: 'run-a', split: 'validation' });
    points.push({ step, value: 2.95 - step / 20, series: 'run-a', split: 'test' });
  }
  points.push({ step: 41, value: Number.NaN, series: 'run-a', split: 'train' });

  test('a line chart with series, evaluation splits and panels renders without warnings, deterministically', async () => {
    const spec = lineChartSpec(
      points.map((p) => ({ ...p, panel: p.series === 'run-a' ? 'left panel' : 'right panel' })),
      { title: 'loss by run', yTitle: 'loss', seriesTitle: 'run' },
    );
    const first = await renderSvg(spec, 'loss');
    const second = await renderSvg(spec, 'loss');
    expect(first.warnings).toEqual([]);
    expect(second.svg).toBe(first.svg);
    assertWellFormedSvg(first.svg);
    const texts = textContents(first.svg);
    for (const t of ['loss by run', 'left panel', 'right panel', 'run-a', 'run-b', 'validation', 'test'])
      expect(texts).toContain(t);
    // Evaluation splits are dashed; training is solid.
    expect(first.svg).toMatch(/stroke-dasharray="6,3"/);
    expect(first.svg).toMatch(/stroke-dasharray="2,2"/);
  });

  test('long lines are downsampled and say so', async () => {
    const long = Array.from({ length: 5000 }, (_, i): LinePoint => ({
      step: i,
      value: Math.sin(i / 100),
      series: 'x',
      split: 'train',
    }));
    const { svg, warnings } = await renderSvg(lineChartSpec(long, { title: 'long', yTitle: 'v', maxPointsPerLine: 500 }), 'long');
    expect(warnings).toEqual([]);
    expect(textContents(svg)).toContain('training curves averaged over buckets of up to 10 logged steps');
  });

  test('interval bars draw an error bar only where a CI is given', async () => {
    const spec = intervalBarSpec(
      [
        { label: 'zeros', value: 0.4, lo: 0.3, hi: 0.5 },
        { label: 'mean', value: -0.1 },
      ],
      { title: 'deltas', yTitle: 'Δ loss' },
    );
    const { svg, warnings } = await renderSvg(spec, 'ablation');
    expect(warnings).toEqual([]);
    assertWellFormedSvg(svg);
    expect(textContents(svg)).toEqual(expect.arrayContaining(['zeros', 'mean', 'deltas', 'Δ loss']));
    const errorBars = svg.match(/<line aria-label="[^"]*"[^>]*aria-roledescription="rule mark"/g) ?? [];
    expect(errorBars).toHaveLength(1);
    expect(errorBars[0]).toContain('label: zeros; lo: 0.3; hi: 0.5');
    expect(svg.match(/stroke-dasharray="3,3"/g)).toHaveLength(1); // the zero line, once
  });

  test('count bars escape hostile labels', async () => {
    const spec = countBarSpec(
      [
        { label: '"<script>alert(1)</script>"', count: 3 },
        { label: '" the"', count: 7 },
      ],
      { title: 'tokens', labelTitle: 'token', orientation: 'horizontal' },
    );
    const { svg, warnings } = await renderSvg(spec, 'tokens');
    expect(warnings).toEqual([]);
    assertWellFormedSvg(svg);
    expect(svg).not.toMatch(/<script/i);
    expect(svg).toContain('&lt;script&gt;');
  });
});
