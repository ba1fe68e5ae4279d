// Phase 0 → phase 1: a training run stores checkpoints of the LatentModel's trainable state, while
// phase 1 starts from a Hugging Face model directory. The export loads the run at its latest
// checkpoint and writes the language model (weights + tokenizer) in Hugging Face format, then checks
// that the model writes solutions: test loss, and answers of greedy generation without latents.
import * as torch from '../torch';
import { answersEqual, extractAnswer, formatPrompt } from '../data/gsm8k';
import { evaluateLoss } from '../latent/evaluate';
import { generateWithLatents } from '../latent/generate';
import { loadSftRun } from '../train/sft';
import { RunDir } from '../train/run-dir';
import { writeHfModel } from '../train/export';
import { EVALS_FILE, type EvalLine } from '../train/run-files';

export interface PretrainCheck {
  /** the run's step the export was taken from */
  step: number;
  /** mean cross-entropy on the solution tokens of the test examples */
  testLoss: number;
  /** exact-match accuracy of greedy answers (no latents) on the first `n` test examples */
  accuracy: number;
  n: number;
  /** a few generated solutions, for the log */
  samples: { question: string; text: string; correct: boolean }[];
}

export interface ExportOptions {
  /** test examples for the loss */
  lossExamples: number;
  /** test examples answered by greedy generation (0: skip) */
  generate: number;
  maxNewTokens: number;
  onProgress?: (done: number) => void;
}

/**
 * Writes the model of run `runDir` (latest checkpoint) to `outDir` as a Hugging Face Qwen2 directory
 * with its tokenizer, and appends the check's test loss and accuracy to the run's evals.jsonl.
 */
export async function exportRunModel(runDir: string, outDir: string, o: ExportOptions): Promise<PretrainCheck> {
  const run = await loadSftRun(runDir);
  const { lm, data } = run;
  if (!run.checkpoint) {
    lm.dispose();
    throw new Error(`${runDir}: the run has no checkpoint to export (did training stop before its first step?)`);
  }
  try {
    writeHfModel(lm, outDir);
    lm.train(false);
    const seqs = data.test.slice(0, o.lossExamples).map((e) => data.sequence(e));
    const testLoss = evaluateLoss(lm, seqs, { batchSize: run.config.batchSize }).loss;
    const samples: PretrainCheck['samples'] = [];
    let correct = 0;
    const examples = data.test.slice(0, o.generate);
    examples.forEach((example, i) => {
      const generated = torch.scope(() =>
        generateWithLatents(lm, formatPrompt(example.question), { maxNewTokens: o.maxNewTokens, useLatents: false }),
      );
      const ok = answersEqual(extractAnswer(generated.text), example.answerNumber);
      if (ok) correct++;
      if (samples.length < 3) samples.push({ question: example.question, text: generated.text, correct: ok });
      o.onProgress?.(i + 1);
    });
    const check: PretrainCheck = {
      step: run.step,
      testLoss,
      accuracy: examples.length ? correct / examples.length : NaN,
      n: examples.length,
      samples,
    };
    new RunDir(runDir).append(EVALS_FILE, {
      step: run.step,
      split: 'test',
      loss: testLoss,
      accuracy: examples.length ? check.accuracy : undefined,
    } satisfies EvalLine);
    return check;
  } finally {
    lm.dispose();
  }
}
