// `latent eval` for RL runs: GSM8K-format test accuracy of the policy, greedy and pass@k, with latent
// spans and without (the policy never opening a span), written to diagnostics.json and evals.jsonl.
import { ProgressBar } from '../train/progress';
import { RunDir } from '../train/run-dir';
import { rolloutAccuracy, type AccuracySample } from './accuracy';
import { loadRlRun, rolloutOptions } from './trainer';
import { EVALS_FILE, type EvalLine } from '../train/run-files';

export interface RlEvalOptions {
  /** test questions (default 200) */
  examples?: number;
  /** samples per question for pass@k (default 8; 0 skips pass@k) */
  passK?: number;
  maxNewTokens?: number;
  /** rows per sampling pass (default: the run's rolloutBatchSize) */
  batchSize?: number;
  quiet?: boolean;
}

export interface RlDiagnostics {
  kind: 'rl';
  step: number;
  /** greedy accuracy (the report's accuracy panel reads this) */
  accuracy: { withLatents: number; withoutLatents: number; n: number };
  /** pass@k of sampled answers (the run's temperature and top-p), or null when skipped */
  passAtK: { k: number; withLatents: number; withoutLatents: number; n: number; temperature: number } | null;
  spansPerAnswer: number;
  latentsPerSpan: number | null;
  tokensPerAnswer: { withLatents: number; withoutLatents: number };
  spanLengths: Record<string, number>;
  samples: AccuracySample[];
}

/** Evaluates the latest checkpoint of an RL run; writes RUNDIR/diagnostics.json and appends to evals.jsonl. */
export async function evaluateRlRun(runDir: string, o: RlEvalOptions = {}): Promise<RlDiagnostics> {
  const { config, opened, step } = await loadRlRun(runDir);
  try {
    const examples = opened.test.slice(0, o.examples ?? 200);
    if (!examples.length) throw new Error(`${config.data}: no test questions`);
    const passK = o.passK ?? 8;
    const base = {
      ...rolloutOptions(config, opened, o.maxNewTokens ? { maxNewTokens: o.maxNewTokens } : {}),
      promptIds: opened.promptIds,
      batchSize: o.batchSize ?? config.rolloutBatchSize,
      answerMode: config.answerMode,
    };
    const conditions = [
      { name: 'greedy with latents', temperature: 0, useLatents: true, samples: 1 },
      { name: 'greedy without latents', temperature: 0, useLatents: false, samples: 1 },
      ...(passK > 0
        ? [
            { name: `pass@${passK} with latents`, temperature: config.temperature, useLatents: true, samples: passK },
            { name: `pass@${passK} without latents`, temperature: config.temperature, useLatents: false, samples: passK },
          ]
        : []),
    ];
    const results = conditions.map((cond) => {
      const bar = new ProgressBar({ total: examples.length, label: cond.name, quiet: o.quiet });
      const r = rolloutAccuracy(opened.policy, opened.lm.tokenizer, examples, {
        ...base,
        ...cond,
        onProgress: (d) => bar.update(d),
      });
      bar.finish();
      return r;
    });
    const [greedyWith, greedyWithout, sampledWith, sampledWithout] = results;
    const n = examples.length;
    const d: RlDiagnostics = {
      kind: 'rl',
      step,
      accuracy: { withLatents: greedyWith.accuracy, withoutLatents: greedyWithout.accuracy, n },
      passAtK: sampledWith
        ? {
            k: passK,
            withLatents: sampledWith.passAtK,
            withoutLatents: sampledWithout.passAtK,
            n,
            temperature: config.temperature,
          }
        : null,
      spansPerAnswer: greedyWith.spansPerAnswer,
      latentsPerSpan: greedyWith.latentsPerSpan,
      tokensPerAnswer: { withLatents: greedyWith.tokensPerAnswer, withoutLatents: greedyWithout.tokensPerAnswer },
      spanLengths: greedyWith.spanLengths,
      samples: greedyWith.samples,
    };
    const dir = new RunDir(runDir);
    dir.writeJson('diagnostics.json', d);
    dir.append(EVALS_FILE, {
      step,
      split: 'test',
      accuracy: d.accuracy.withLatents,
      accuracyWithoutLatents: d.accuracy.withoutLatents,
      ...(d.passAtK ? { passAtK: d.passAtK.withLatents, passAtKWithoutLatents: d.passAtK.withoutLatents, k: d.passAtK.k } : {}),
      n,
    } satisfies EvalLine);
    return d;
  } finally {
    opened.lm.dispose();
  }
}

/** A plain-text summary for the terminal. */
export function formatRlDiagnostics(d: RlDiagnostics): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `step ${d.step}: greedy accuracy (${d.accuracy.n} test questions): with latents ${pct(d.accuracy.withLatents)}, without ${pct(d.accuracy.withoutLatents)}`,
  ];
  if (d.passAtK)
    lines.push(
      `pass@${d.passAtK.k} (temperature ${d.passAtK.temperature}): with latents ${pct(d.passAtK.withLatents)}, without ${pct(d.passAtK.withoutLatents)}`,
    );
  lines.push(
    `greedy answers: ${d.spansPerAnswer.toFixed(2)} spans per answer, ${d.latentsPerSpan === null ? 'no spans' : `${d.latentsPerSpan.toFixed(2)} latents per span`}, ` +
      `${d.tokensPerAnswer.withLatents.toFixed(1)} tokens (${d.tokensPerAnswer.withoutLatents.toFixed(1)} without latents); span lengths ${JSON.stringify(d.spanLengths)}`,
  );
  return lines.join('\n');
}
