// The content ablations of `latent eval`: their rows, their progress reporting (the bar of the
// longest silent phase of an evaluation), and that they leave no tensors behind.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../../src/torch';
import {
  ablationWork,
  answerAccuracy,
  evaluateLoss,
  latentAblationsWithConstant,
  oracleSpanLatents,
} from '../../src/latent/evaluate';
import { namedLatentSchedule } from '../../src/latent/sequence';
import type { Gsm8kExample } from '../../src/data/gsm8k';
import { resolveSftConfig, trainSft, loadSftRun } from '../../src/train/sft';
import { haveQwenTokenizer, sftFixture } from '../helpers/sft-fixture';

(haveQwenTokenizer ? describe : describe.skip)('latentAblationsWithConstant', () => {
  let root: string;
  let out: string;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-ablations-'));
    const fx = sftFixture(root);
    out = path.join(root, 'run');
    const c = resolveSftConfig({
      model: fx.model,
      data: fx.data,
      out,
      latents: 2,
      steps: 4,
      batchSize: 4,
      evalEvery: 4,
      evalExamples: 4,
      saveEvery: 4,
      validationSize: 4,
      startFitExamples: 0,
    });
    await trainSft(c, { quiet: true });
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('reports progress up to exactly its total, in order; rows are trained then the four ablations', async () => {
    const run = await loadSftRun(out, { quiet: true });
    try {
      run.lm.train(false);
      const seqs = run.data.test.slice(0, 6).map((e) => run.data.sequence(e));
      const trainSeqs = run.data.train.slice(0, 5).map((e) => run.data.sequence(e));
      const seen: number[] = [];
      // a first pass creates what the model caches lazily (e.g. rotary tables); the ablations then add nothing
      latentAblationsWithConstant(run.lm, seqs.slice(0, 2), { batchSize: 4, trainSeqs, constantSteps: 1 }).constant.dispose();
      const liveBefore = torch.memory().liveTensors;
      const { ablations, constant } = latentAblationsWithConstant(run.lm, seqs, {
        batchSize: 4,
        trainSeqs,
        constantSteps: 3,
        onProgress: (d) => seen.push(d),
      });
      constant.dispose();
      expect(torch.memory().liveTensors).toBe(liveBefore);

      const total = ablationWork(seqs.length, { trainSeqs: trainSeqs.length, constantSteps: 3 });
      expect(total).toBe(5 * 6 + 5 + 3);
      expect(seen[seen.length - 1]).toBe(total);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
      // every phase moves the bar: the trained pass (batches of 4 of 6), the mean, each constant step, each ablation
      expect(seen).toEqual(expect.arrayContaining([4, 6, 11, 12, 13, 14, 18, 20, 24, 26, 30, 32, 36, 38]));

      expect(ablations.map((a) => a.name)).toEqual(['trained', 'zeros', 'mean', 'shuffled', 'constant']);
      const trained = ablations[0];
      expect([trained.delta, trained.resultDelta, trained.stepDelta]).toEqual([0, 0, 0]);
      // the trained row is the plain evaluation of the same examples
      expect(trained.resultLoss).toBeCloseTo(evaluateLoss(run.lm, seqs, { batchSize: 4 }).resultLoss, 10);
      for (const a of ablations.slice(1)) {
        expect(Number.isFinite(a.resultLoss)).toBe(true);
        expect(a.resultDelta).toBeCloseTo(a.resultLoss - trained.resultLoss, 10);
        expect(a.resultCi[0]).toBeLessThanOrEqual(a.resultDelta + 1e-12);
        expect(a.resultCi[1]).toBeGreaterThanOrEqual(a.resultDelta - 1e-12);
      }
      // zeros replace every latent input: the loss moves
      expect(ablations[1].resultLoss).not.toBeCloseTo(trained.resultLoss, 6);
    } finally {
      run.lm.dispose();
    }
  }, 300_000);

  test('answer accuracy generated in batches equals one question at a time, every condition (oracle and its ablations included)', async () => {
    const run = await loadSftRun(out, { quiet: true });
    try {
      run.lm.train(false);
      const examples = run.data.test.slice(0, 5);
      const constant = torch.keep(torch.zeros([run.lm.heads.markers.size(1)]));
      try {
        const o = {
          maxNewTokens: 24,
          oracleLatents: 2,
          latentSchedule: namedLatentSchedule('digits', 2),
          ablate: { constant },
          startThreshold: 0.2,
        };
        const seen: number[] = [];
        const one = answerAccuracy(run.lm, examples, { ...o, batchSize: 1 });
        const liveBefore = torch.memory().liveTensors;
        const batched = answerAccuracy(run.lm, examples, { ...o, batchSize: 3, onProgress: (d) => seen.push(d) });
        expect(torch.memory().liveTensors).toBe(liveBefore);
        expect(batched.correct).toEqual(one.correct);
        expect(batched.samples).toEqual(one.samples);
        expect(batched.spanLengths).toEqual(one.spanLengths);
        expect([batched.spans, batched.spansAway]).toEqual([one.spans, one.spansAway]);
        expect(Object.keys(batched.correct).sort()).toEqual(
          ['oracle', 'oracleConstant', 'oracleShuffled', 'withLatents', 'withoutLatents'].sort(),
        );
        expect(seen).toEqual([3, 5, 8, 10]);
        expect(() => answerAccuracy(run.lm, examples, { batchSize: 0 })).toThrow(/batchSize/);
      } finally {
        constant.dispose();
      }
    } finally {
      run.lm.dispose();
    }
  }, 300_000);
});

describe('oracleSpanLatents', () => {
  const example = {
    breakpoints: [
      { expression: '3*4+1', result: '13' },
      { expression: '13-2', result: '1234' },
    ],
  } as unknown as Gsm8kExample;
  test("span i takes the schedule's count at the i-th gold breakpoint; later spans and fixed schedules take k", () => {
    expect(oracleSpanLatents(namedLatentSchedule('digits', 3), 0, example, 3)).toBe(2);
    expect(oracleSpanLatents(namedLatentSchedule('digits', 3), 1, example, 3)).toBe(3); // 4 digits, capped at k
    expect(oracleSpanLatents(namedLatentSchedule('operations', 3), 0, example, 3)).toBe(2);
    expect(oracleSpanLatents(namedLatentSchedule('operations', 3), 1, example, 3)).toBe(1);
    expect(oracleSpanLatents(namedLatentSchedule('digits', 3), 2, example, 3)).toBe(3);
    expect(oracleSpanLatents(namedLatentSchedule('fixed', 3), 0, example, 3)).toBe(3);
    expect(oracleSpanLatents(undefined, 0, example, 2)).toBe(2);
    expect(() => oracleSpanLatents(() => -1, 0, example, 2)).toThrow(/non-negative/);
  });
});
