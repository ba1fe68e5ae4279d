// One schema for the run files: every field the trainers write (train/run-files) is read back by the
// report, and config.json's interpreted fields are checked the same way by the report and by RunDir.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readRun } from '../../src/report/run';
import {
  EVAL_FIELDS,
  METRIC_FIELDS,
  type EvalLine,
  type MetricLine,
  type RlStepMetrics,
  type SftStepMetrics,
} from '../../src/train/run-files';
import { readRunConfig } from '../../src/train/run-dir';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-run-files-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const jsonl = (lines: object[]) => lines.map((l) => JSON.stringify(l) + '\n').join('');

test('the report reads every metrics and evals field a trainer writes', () => {
  const sft: SftStepMetrics = {
    loss: 2,
    nextStepLoss: 1.5,
    resultLoss: 1.25,
    startLoss: 0.5,
    stopLoss: 0.25,
    gradNorm: 3,
    latentNorm: 4,
    tokenNorm: 5,
    tokensPerSec: 100,
  };
  const rl: RlStepMetrics = {
    reward: 0.5,
    rewardStd: 0.25,
    accuracy: 0.5,
    wellFormed: 0.75,
    kl: 0.01,
    clipFraction: 0.1,
    entropy: 1.5,
    spansPerAnswer: 1,
    latentsPerSpan: 2,
    tokensPerAnswer: 12,
    loss: 0.3,
    gradNorm: 0.7,
    degenerateGroups: 0.25,
    rolloutTokensPerSec: 300,
    rolloutSeconds: 1.5,
    updateSeconds: 2.5,
  };
  const metrics: MetricLine[] = [
    { step: 1, time: 10, lr: 1e-3, ...sft },
    { step: 2, time: 20, lr: 1e-3, ...rl },
  ];
  const evals: EvalLine[] = [
    {
      step: 1,
      split: 'validation',
      loss: 1,
      nextStepLoss: 1,
      resultLoss: 1,
      stepLoss: 1,
      startLoss: 1,
      stopLoss: 1,
      latentNorm: 1,
      tokenNorm: 1,
      startPrecision: 1,
      startRecall: 1,
      startF1: 1,
      startThreshold: 0.3,
      startF1Calibrated: 0.9,
      stopDecisionAccuracy: 0.8,
      stopLengthAccuracy: 0.6,
      accuracy: 0.5,
    },
    {
      step: 2,
      split: 'test',
      accuracy: 0.5,
      n: 8,
      spansPerAnswer: 1,
      accuracyWithoutLatents: 0.25,
      passAtK: 0.75,
      passAtKWithoutLatents: 0.5,
      k: 4,
    },
  ];
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ kind: 'rl', mode: 'full', latents: 2 }));
  fs.writeFileSync(path.join(root, 'metrics.jsonl'), jsonl(metrics));
  fs.writeFileSync(path.join(root, 'evals.jsonl'), jsonl(evals));
  const run = readRun(root);
  expect(run.issues).toEqual([]);
  const readMetrics = new Set(run.metrics.flatMap((m) => Object.keys(m)));
  for (const line of metrics)
    for (const field of Object.keys(line)) expect([field, readMetrics.has(field)]).toEqual([field, true]);
  const readEvals = new Set(run.evals.flatMap((e) => Object.keys(e)));
  for (const line of evals) for (const field of Object.keys(line)) expect([field, readEvals.has(field)]).toEqual([field, true]);
  // the findings: fields the report used to drop
  expect(run.metrics[1]).toMatchObject({ wellFormed: 0.75, rolloutSeconds: 1.5, updateSeconds: 2.5, degenerateGroups: 0.25 });
  expect(run.evals[0]).toMatchObject({ startThreshold: 0.3, stepLoss: 1 });
  expect([...METRIC_FIELDS].sort()).toEqual([...readMetrics].filter((f) => f !== 'step').sort());
  expect([...EVAL_FIELDS].sort()).toEqual([...readEvals].filter((f) => f !== 'step' && f !== 'split').sort());
});

test('config.json: the report and RunDir apply the same checks', () => {
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ kind: 'sft', latents: -1 }));
  expect(readRun(root).issues.map((i) => i.message)).toEqual(['"latents" should be a non-negative integer (found -1); ignored']);
  expect(() => readRunConfig(root)).toThrow(/config.json: "latents" should be a non-negative integer \(found -1\)/);
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ kind: 7, latents: 1 }));
  expect(() => readRunConfig(root)).toThrow(/"kind" should be a string \(found 7\)/);
});
