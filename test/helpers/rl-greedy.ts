// Greedy GRPO rollouts must be exactly what phase-1 generation produces for the same questions: the
// check the RL tests make for each trunk layout and coupling.
import { formatPrompt } from '../../src/data/gsm8k';
import { generateWithLatents } from '../../src/latent/generate';
import { markedRolloutText } from '../../src/rl/render';
import { disposeRollouts, sampleRollouts, type Rollout } from '../../src/rl/policy';
import { rolloutOptions, type RlConfig, type RlPolicy } from '../../src/rl/trainer';

/**
 * Samples greedy rollouts of the first `count` training questions, expects their tokens and spans (and,
 * with `markedText`, the rendered text) to equal `generateWithLatents` at `startThreshold`, then hands
 * the rollouts to `inspect` before disposing them.
 */
export function expectGreedyRolloutsMatchGeneration(
  p: RlPolicy,
  c: RlConfig,
  o: { count: number; startThreshold: number; markedText?: boolean; inspect?: (rollouts: readonly Rollout[]) => void },
): void {
  const questions = p.train.slice(0, o.count);
  const rollouts = sampleRollouts(
    p.policy,
    questions.map((q) => p.promptIds(q)),
    rolloutOptions(c, p, { temperature: 0 }),
  );
  try {
    questions.forEach((q, i) => {
      const g = generateWithLatents(p.lm, formatPrompt(q.question), {
        maxNewTokens: c.maxNewTokens,
        maxLatents: p.maxLatents,
        startThreshold: o.startThreshold,
      });
      expect(rollouts[i].tokens).toEqual(g.tokens);
      expect(rollouts[i].spans).toEqual(g.spans.map((s) => ({ at: s.at, latents: s.latents })));
      if (o.markedText) expect(markedRolloutText(p.lm.tokenizer, rollouts[i]).text).toBe(g.markedText);
    });
    o.inspect?.(rollouts);
  } finally {
    disposeRollouts(rollouts);
  }
}
