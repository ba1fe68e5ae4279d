// Synthetic run directories shaped like the trainers' output, for report tests.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Deterministic noise so curves look like training curves without randomness between test runs. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

const jsonl = (records: readonly unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

export const XSS = '<img src=x onerror="window.__xss=1">';
export const SCRIPT = '<script>window.__xss=2</script>';

export interface FixtureOptions {
  kind: 'sft' | 'rl' | 'pretrain';
  latents: number;
  steps?: number;
  /** Final test loss (exactly representable with 4 significant digits so tables can be checked). */
  finalTestLoss: number;
  seed?: number;
  diagnostics?: boolean;
  samples?: boolean;
  /** Extra raw lines appended to metrics.jsonl (malformed input). */
  extraMetricLines?: string[];
  mode?: string;
}

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Ablations whose zeros/shuffled CIs exclude 0, i.e. a run whose latents matter. */
export const USED_ABLATIONS = [
  { name: 'trained', nextStepLoss: 1.5, resultLoss: 0.5, delta: 0, ci: [0, 0] },
  { name: 'zeros', nextStepLoss: 1.9, resultLoss: 0.9, delta: 0.4, ci: [0.3, 0.5] },
  { name: 'mean', nextStepLoss: 1.8, resultLoss: 0.8, delta: 0.3, ci: [0.2, 0.4] },
  { name: 'shuffled', nextStepLoss: 2.0, resultLoss: 1.1, delta: 0.5, ci: [0.375, 0.625] },
  { name: 'constant', nextStepLoss: 1.6, resultLoss: 0.6, delta: 0.1, ci: [-0.05, 0.25] },
];

export function writeRunDir(root: string, name: string, o: FixtureOptions): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const steps = o.steps ?? 200;
  const rand = noise(o.seed ?? 1);
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ kind: o.kind, mode: o.mode ?? 'full', latents: o.latents, lr: 1e-4, model: 'Qwen/Qwen2-0.5B' }, null, 2),
  );

  const metrics: Record<string, number>[] = [];
  for (let step = 1; step <= steps; step++) {
    const t = step / steps;
    const base = o.finalTestLoss + 1.5 * Math.exp(-4 * t);
    const m: Record<string, number> = {
      step,
      time: step * 0.8,
      loss: base + 0.1 * rand(),
      lr: 1e-4 * Math.min(1, step / 20),
      gradNorm: 1 + 0.3 * rand(),
      tokensPerSec: 900 + 50 * rand(),
    };
    if (o.kind !== 'rl') Object.assign(m, { nextStepLoss: base * 1.1 + 0.1 * rand(), resultLoss: base * 0.4 + 0.05 * rand() });
    if (o.latents > 0)
      Object.assign(m, {
        startLoss: 0.3 * (1 - t) + 0.05,
        stopLoss: 0.25 * (1 - t) + 0.04,
        latentNorm: 1 + 2 * t,
        tokenNorm: 1.2,
      });
    if (o.kind === 'rl') {
      Object.assign(m, {
        reward: 0.2 + 0.6 * t + 0.05 * rand(),
        rewardStd: 0.2,
        accuracy: 0.15 + 0.6 * t,
        kl: 0.02 * t,
        clipFraction: 0.1 + 0.02 * rand(),
        entropy: 1.5 - 0.5 * t,
        spansPerAnswer: 2 + t,
        latentsPerSpan: o.latents,
        tokensPerAnswer: 120 - 20 * t,
      });
    }
    metrics.push(m);
  }
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), jsonl(metrics) + (o.extraMetricLines ?? []).map((l) => l + '\n').join(''));

  const evals: Record<string, unknown>[] = [];
  for (let step = 50; step <= steps; step += 50) {
    for (const split of ['validation', 'test']) {
      const final = step === steps && split === 'test';
      const loss = final
        ? o.finalTestLoss
        : o.finalTestLoss + 1.5 * Math.exp((-4 * step) / steps) + (split === 'test' ? 0.02 : 0);
      const e: Record<string, unknown> = { step, split, loss, nextStepLoss: loss * 1.1, resultLoss: loss * 0.4 };
      if (o.latents > 0)
        Object.assign(e, {
          startPrecision: 0.7 + (0.2 * step) / steps,
          startRecall: 0.6 + (0.3 * step) / steps,
          startF1: 0.65 + (0.25 * step) / steps,
        });
      if (o.kind === 'rl') e.accuracy = 0.2 + (0.5 * step) / steps;
      evals.push(e);
    }
  }
  fs.writeFileSync(path.join(dir, 'evals.jsonl'), jsonl(evals));

  if (o.diagnostics) {
    fs.writeFileSync(
      path.join(dir, 'diagnostics.json'),
      JSON.stringify({
        ablations: USED_ABLATIONS,
        study: {
          verdict: 'helps',
          reasons: [
            'helps (reference − run, result tokens): Δ 0.2500 [0.1250, 0.3750]',
            'used (shuffled − trained, result tokens): Δ 0.6000 [0.5000, 0.7500]',
            'the content is used and the run beats its reference',
          ],
          helps: { delta: 0.25, ci: [0.125, 0.375], reference: 'sft-k0', step: { delta: 0.1, ci: [0.05, 0.15] } },
          used: { delta: 0.6, ci: [0.5, 0.75], ablation: 'shuffled', step: { delta: 0.2, ci: [0.1, 0.3] } },
          zeros: { delta: 1.5, ci: [1.25, 1.75] },
          spanRemoved: { delta: 0.25, ci: [0.125, 0.375] },
          contentBeyondCompute: { delta: 0.0625, ci: [-0.0625, 0.1875], pause: 'pause-k4' },
        },
        decoded: [
          {
            example: 0,
            span: 0,
            step: 1,
            expression: '48/2',
            result: '24',
            nearest: [
              { token: '24', cosine: 0.61 },
              { token: ' twenty', cosine: 0.42 },
            ],
            logitLens: [
              { token: '2', prob: 0.55 },
              { token: '\n', prob: 0.1 },
            ],
          },
          {
            example: 3,
            span: 1,
            step: 2,
            expression: '24+48',
            result: '72',
            nearest: [{ token: XSS, cosine: 0.33 }],
            logitLens: [{ token: '7', prob: 0.71 }],
          },
        ],
        recurring: [
          { token: '2', count: 12 },
          { token: ' the', count: 7 },
          { token: SCRIPT, count: 3 },
        ],
        resultHitRate: 0.625,
        spanLengths: { '0': 3, '1': 10, '2': 25, '3': 14, '4': 6 },
        accuracy: { withLatents: 0.4375, withoutLatents: 0.3125, n: 160 },
        start: { precision: 0.875, recall: 0.75, f1: 0.8077 },
        startCalibrated: { threshold: 0.8125, precision: 0.9, recall: 0.9, f1: 0.9125 },
        stop: {
          decisionAccuracy: 0.9375,
          decisionBaseline: 0.6875,
          lengthAccuracy: 0.8125,
          lengthBaseline: 0.4375,
          spans: 48,
          schedule: 'digits',
          scheduled: { '1': 21, '2': 27 },
          chosen: { '1': 20, '2': 28 },
        },
        spuriousSpans: { rate: 0.1875, count: 3, spans: 16, perAnswer: 1.25 },
        norms: { latent: 2.5, token: 1.25 },
      }),
    );
  }
  if (o.samples) {
    const text = 'She sold 48/2 = <<48/2=24>>24 clips in May. ' + SCRIPT + ' Total 72.';
    const start = text.indexOf('<<');
    const end = text.indexOf('>>') + 2;
    fs.writeFileSync(
      path.join(dir, 'samples.jsonl'),
      jsonl([
        { step: 100, question: `Natalia sold clips ${XSS}`, text, reward: 1, spans: [[start, end]] },
        { step: 200, question: 'How many clips?', text: 'Answer: 72', reward: 0, spans: [] },
      ]),
    );
  }
  return dir;
}

/** Minimal well-formedness check for the renderer's SVG: one root <svg>, every tag closed in order. */
export function assertWellFormedSvg(svg: string): void {
  const trimmed = svg.trim();
  if (!trimmed.startsWith('<svg') || !trimmed.endsWith('</svg>')) throw new Error('SVG must start with <svg and end with </svg>');
  const stack: string[] = [];
  let roots = 0;
  for (const m of trimmed.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`SVG: </${name}> closes <${open ?? 'nothing'}> at offset ${m.index}`);
    } else if (!selfClosing) {
      if (!stack.length) roots++;
      stack.push(name);
    }
  }
  if (stack.length) throw new Error(`SVG: unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) throw new Error(`SVG: expected one root element, found ${roots}`);
  if (/<[^>]*$/.test(trimmed.replace(/<(?:[^>"']|"[^"]*"|'[^']*')*>/g, ''))) throw new Error('SVG: stray "<"');
}

/** The sections of every run's report, SFT or RL (an RL run adds `rl` and `samples`). */
export const RUN_REPORT_SECTIONS = [
  'overview',
  'curves',
  'utilisation',
  'decoded',
  'norms',
  'span-lengths',
  'start-classifier',
  'data-notes',
];
