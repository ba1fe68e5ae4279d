import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { namedLatentSchedule, buildLatentSequence } from '../../src/latent/sequence';
import { stopEvaluation, evaluateLoss } from '../../src/latent/evaluate';
import { parseGsm8kRecord } from '../../src/data/gsm8k';
import { mulberry32 } from '../../src/data/random';
import { resolveSftConfig, trainSft, loadSftRun } from '../../src/train/sft';
import { haveQwenTokenizer, sftFixture } from '../helpers/sft-fixture';

const example = (answer: string) => {
  const r = parseGsm8kRecord(JSON.stringify({ question: 'q?', answer }), 0);
  if (!r.ok) throw new Error(`fixture record did not parse: ${r.detail}`);
  return r.example;
};

describe('named latent schedules', () => {
  const e = example('A = <<4+5=9>>9.\nB = <<9*12=108>>108.\nC = <<(1+2)*3-4=5>>5.\n#### 5');
  test('digits: the result’s digit count, 1 … k', () => {
    const s = namedLatentSchedule('digits', 2) as (i: number, ex: typeof e) => number;
    expect([0, 1, 2].map((i) => s(i, e))).toEqual([1, 2, 1]);
    const wide = namedLatentSchedule('digits', 8) as (i: number, ex: typeof e) => number;
    expect(wide(1, e)).toBe(3);
  });
  test('operations: the expression’s operator count, 1 … k', () => {
    const s = namedLatentSchedule('operations', 8) as (i: number, ex: typeof e) => number;
    expect([0, 1, 2].map((i) => s(i, e))).toEqual([1, 1, 3]);
  });
  test('fixed and k = 0 are plain counts', () => {
    expect(namedLatentSchedule('fixed', 3)).toBe(3);
    expect(namedLatentSchedule('digits', 0)).toBe(0);
  });
  test('spans follow the schedule', () => {
    const tok = { encode: (t: string) => Array.from(t, (c) => c.charCodeAt(0)) };
    const seq = buildLatentSequence(e, tok, { latents: namedLatentSchedule('digits', 4), botId: 1000, eotId: 1001 });
    expect(seq.spans.map((s) => s.count)).toEqual([1, 3, 1]);
  });
});

describe('stopEvaluation', () => {
  test('scores decisions, lengths and their baselines', () => {
    // span a (k = 2): stops at j = 2 (right); span b (k = 1): stops at j = 0 (wrong); span c (k = 1): never stops
    const d = (example: number, span: number, step: number, logit: number, target: number) => ({
      example,
      span,
      step,
      logit,
      target,
    });
    const r = stopEvaluation([
      d(0, 0, 0, -1, 0),
      d(0, 0, 1, -1, 0),
      d(0, 0, 2, 1, 1),
      d(0, 1, 0, 1, 0),
      d(0, 1, 1, 1, 1),
      d(1, 0, 0, -1, 0),
      d(1, 0, 1, -1, 1),
    ]);
    expect(r.spans).toBe(3);
    expect(r.decisionAccuracy).toBeCloseTo(5 / 7, 12);
    expect(r.decisionBaseline).toBeCloseTo(4 / 7, 12);
    expect(r.lengthAccuracy).toBeCloseTo(1 / 3, 12);
    expect(r.lengthBaseline).toBeCloseTo(2 / 3, 12);
    expect(r.scheduled).toEqual({ 1: 2, 2: 1 });
    expect(r.chosen).toEqual({ 2: 1, 0: 1, '>1': 1 });
  });
});

(haveQwenTokenizer ? describe : describe.skip)('the end classifier learns a variable-k schedule', () => {
  let root: string;
  let fx: { data: string; model: string };
  // Results of one, two or three digits, visible in the text before the span (the operand is the result).
  const writeData = (dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    const rand = mulberry32(5);
    const line = () => {
      const digits = 1 + Math.floor(rand() * 3);
      const n = Math.floor(10 ** (digits - 1) + rand() * 9 * 10 ** (digits - 1));
      return JSON.stringify({ question: `What is ${n} plus 0?`, answer: `${n} + 0 = <<${n}+0=${n}>>${n}.\n#### ${n}` });
    };
    fs.writeFileSync(path.join(dir, 'train.jsonl'), Array.from({ length: 96 }, line).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'test.jsonl'), Array.from({ length: 32 }, line).join('\n') + '\n');
  };
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-schedule-'));
    fx = sftFixture(root, { writeData });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('stop accuracy against the digits schedule is well above the one-fixed-length baseline', async () => {
    const c = resolveSftConfig({
      model: fx.model,
      data: fx.data,
      out: path.join(root, 'digits'),
      latents: 3,
      latentSchedule: 'digits',
      steps: 60,
      batchSize: 8,
      lr: 3e-3,
      minLr: 3e-4,
      headLr: 3e-2,
      warmupSteps: 2,
      stopLossWeight: 1,
      evalEvery: 60,
      evalExamples: 8,
      saveEvery: 60,
      validationSize: 8,
      startFitExamples: 0,
    });
    await trainSft(c, { quiet: true });
    const run = await loadSftRun(c.out, { quiet: true });
    try {
      run.lm.train(false);
      const seqs = run.data.test.map((e) => run.data.sequence(e));
      expect(new Set(seqs.flatMap((s) => s.spans.map((sp) => sp.count)))).toEqual(new Set([1, 2, 3]));
      const { stop } = evaluateLoss(run.lm, seqs, { batchSize: 8 });
      console.log(
        `digits schedule: span length exact ${stop.lengthAccuracy.toFixed(3)} vs one fixed length ${stop.lengthBaseline.toFixed(3)}; decisions ${stop.decisionAccuracy.toFixed(3)} vs majority ${stop.decisionBaseline.toFixed(3)}; chosen ${JSON.stringify(stop.chosen)}`,
      );
      expect(stop.lengthAccuracy).toBeGreaterThan(stop.lengthBaseline + 0.25);
      expect(stop.decisionAccuracy).toBeGreaterThan(stop.decisionBaseline + 0.05);
    } finally {
      run.lm.dispose();
    }
  }, 600_000);
});
