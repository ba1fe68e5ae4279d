import { computeReward, checkRewardConfig, REWARD_DEFAULTS } from '../../src/rl/reward';
import { markedRolloutText, rolloutText } from '../../src/rl/render';

describe('verifiable reward', () => {
  test('1 for the right number after ####, else 0; commas and $ are normalised', () => {
    expect(computeReward('3 + 4 = 7\n#### 7', 7, 0, REWARD_DEFAULTS)).toMatchObject({
      reward: 1,
      correct: true,
      wellFormed: true,
      predicted: 7,
    });
    expect(computeReward('#### $1,200', 1200, 0, REWARD_DEFAULTS).reward).toBe(1);
    expect(computeReward('it is 7\n#### 8', 7, 0, REWARD_DEFAULTS)).toMatchObject({ reward: 0, correct: false, predicted: 8 });
    expect(computeReward('the answer is 7', 7, 0, REWARD_DEFAULTS)).toMatchObject({
      reward: 0,
      wellFormed: false,
      predicted: null,
    });
  });

  test("'last-number' grades the last number anywhere", () => {
    const c = { ...REWARD_DEFAULTS, answerMode: 'last-number' as const };
    expect(computeReward('the answer is 7', 7, 0, c).reward).toBe(1);
    expect(computeReward('#### 7 then 9', 7, 0, c).reward).toBe(0);
  });

  test('format reward and latent cost', () => {
    const c = { answerMode: 'hash' as const, formatReward: 0.1, latentCost: 0.01 };
    expect(computeReward('#### 8', 7, 3, c).reward).toBeCloseTo(0.1 - 0.03, 12);
    expect(computeReward('#### 7', 7, 0, c).reward).toBeCloseTo(1.1, 12);
    expect(computeReward('no answer', 7, 2, c).reward).toBeCloseTo(-0.02, 12);
    expect(() => checkRewardConfig({ ...c, latentCost: -1 })).toThrow(/latentCost/);
    expect(() => checkRewardConfig({ ...c, answerMode: 'first' as never })).toThrow(/answer mode/);
  });
});

describe('rollout text', () => {
  // a decoder over single characters: id i is the i-th character
  const chars = 'abc #7\n';
  const tokenizer = { decode: (ids: readonly number[]) => ids.map((i) => chars[i]).join('') };
  test('spans become markers whose offsets the report highlights; graded text has none', () => {
    const r = {
      tokens: [0, 1, 3, 5],
      spans: [
        { at: 0, latents: 2 },
        { at: 2, latents: 1 },
      ],
    };
    const m = markedRolloutText(tokenizer, r);
    expect(m.text).toBe('⟨2 latents⟩ab⟨1 latent⟩ 7');
    expect(m.spans.map(([s, e]) => m.text.slice(s, e))).toEqual(['⟨2 latents⟩', '⟨1 latent⟩']);
    expect(rolloutText(tokenizer, r)).toBe('ab 7');
  });
});
