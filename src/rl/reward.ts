// Verifiable rewards: only the language of a rollout is graded (its latents are invisible to the grader).
//
//   reward = 1[answer == reference] + formatReward · 1[a "#### <number>" line is present] - latentCost · latents
import { answersEqual, extractAnswer, type AnswerExtractionMode } from '../data/gsm8k';

export interface RewardConfig {
  /** 'hash': the number after `####`; 'last-number': the last number in the text */
  answerMode: AnswerExtractionMode;
  /** bonus for a well-formed final-answer line (0: none) */
  formatReward: number;
  /** subtracted per latent position of the rollout (0: latents are free) */
  latentCost: number;
}

export const REWARD_DEFAULTS: RewardConfig = { answerMode: 'hash', formatReward: 0, latentCost: 0 };

export interface Reward {
  reward: number;
  correct: boolean;
  /** the text has a `####` line with a number */
  wellFormed: boolean;
  predicted: number | null;
}

export function checkRewardConfig(c: RewardConfig): void {
  if (c.answerMode !== 'hash' && c.answerMode !== 'last-number')
    throw new RangeError(`answer mode must be 'hash' or 'last-number', got ${String(c.answerMode)}`);
  if (!Number.isFinite(c.formatReward)) throw new RangeError(`formatReward must be a finite number, got ${c.formatReward}`);
  if (!(Number.isFinite(c.latentCost) && c.latentCost >= 0))
    throw new RangeError(`latentCost must be a finite number >= 0, got ${c.latentCost}`);
}

/** The reward of an answer `text` (language only) for a question whose answer is `reference`. */
export function computeReward(text: string, reference: number, latents: number, c: RewardConfig): Reward {
  const predicted = extractAnswer(text, { mode: c.answerMode });
  const correct = answersEqual(predicted, reference);
  const wellFormed = extractAnswer(text, { mode: 'hash' }) !== null;
  const reward = (correct ? 1 : 0) + (wellFormed ? c.formatReward : 0) - c.latentCost * latents;
  return { reward, correct, wellFormed, predicted };
}
