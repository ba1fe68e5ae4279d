// The study's instrument on hand-built models (no training), whose answer is known by construction.
//
// One Qwen2 layer with a single attention head whose query and key are constant biases (their weights 0): through the
// rotary embedding, the score of key j for query i is a sum of cos(θ_m (i − j − offset)) over the
// rotary pairs, so with large biases each position attends to the one `offset` positions back. The
// value and output projections copy that position's (normalised) input into the residual stream,
// the MLP is off, and the LM head is the (tied) embedding matrix: every position predicts the token
// whose embedding it copied. The latents are fed the result's embedding (`planted-result`, k = 1),
// so in `= <bot> L <eot> 5` the position of <eot> predicts the result from:
//   - offset 1: the latent, whose content is the result. The content matters by construction: the
//     study must find it `used` (shuffled latents raise the result-token loss) and `helps` (beats the
//     same model without spans, which has to predict the result from the token before it);
//   - offset 2: <bot>, never the latent. The content is there but not read: the study must find it
//     `ignored`, with the shuffled ablation's CI at exactly 0 on the result tokens.
import * as torch from '../../src/torch';
import { Tokenizer } from '../../src/models/tokenizer';
import { Qwen2ForCausalLM } from '../../src/models/qwen2/modeling';
import { makeQwen2Config } from '../../src/models/qwen2/config';
import { formatTrainingText } from '../../src/data/gsm8k';
import { LatentModel } from '../../src/latent/model';
import { buildLatentSequence } from '../../src/latent/sequence';
import { evaluateLoss, latentAblations } from '../../src/latent/evaluate';
import { pairedLossDelta, studyVerdict } from '../../src/latent/study';
import { example } from '../helpers/char-examples';
import { haveQwenTokenizer, qwenDir } from '../helpers/sft-fixture';

const HIDDEN = 64;
const ROPE_THETA = 10000;

// single-digit results, so that each result is one token (Qwen's tokenizer splits digits)
const EXAMPLES = Array.from({ length: 48 }, (_, i) => {
  const a = 1 + (i % 5);
  const b = (i * 7) % (10 - a);
  return example(
    `Tom has ${a} apples and finds ${b} more. How many apples does he have?`,
    `He has ${a}+${b}=<<${a}+${b}=${a + b}>>${a + b} apples.\n#### ${a + b}`,
  );
});

let qwen: Tokenizer | undefined; // parsed once: the file is large

/** The hand-built model: attends `offset` positions back and copies what it finds there. */
function handBuilt(offset: number): LatentModel {
  qwen ??= Tokenizer.fromDir(qwenDir);
  const { tokenizer } = qwen.restrictTo(
    EXAMPLES.map((e) => formatTrainingText(e)),
    { keepTokens: ['<|endoftext|>'] },
  );
  const config = makeQwen2Config({
    vocabSize: tokenizer.vocabSize + 2,
    hiddenSize: HIDDEN,
    intermediateSize: 8,
    numHiddenLayers: 1,
    numAttentionHeads: 1,
    numKeyValueHeads: 1,
    ropeTheta: ROPE_THETA,
    tieWordEmbeddings: true,
  });
  const model = new Qwen2ForCausalLM(config);
  torch.manualSeed(11);
  const half = HIDDEN / 2;
  const a = 20; // |q| = |k| per rotary pair: the score gap to the neighbours is ≈ a² · 1.05 / √64 ≈ 50
  const q = new Array<number>(HIDDEN).fill(0);
  const k = new Array<number>(HIDDEN).fill(0);
  for (let m = 0; m < half; m++) {
    const theta = ROPE_THETA ** (-(2 * m) / HIDDEN);
    // rotate_half pairs dimension m with m + d/2; the key's angle θ·offset puts the maximum at i − j = offset
    q[m] = a;
    k[m] = a * Math.cos(theta * offset);
    k[m + half] = a * Math.sin(theta * offset);
  }
  const sd = model.stateDict();
  const set = (name: string, value: (p: torch.Tensor) => torch.Tensor) => {
    const p = sd.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    torch.noGrad(() => torch.scope(() => p.copy_(value(p))));
  };
  const eye = () => torch.eye(HIDDEN);
  // the model's weights are allocated uninitialised: every one is set here (0 × NaN would be NaN)
  for (const name of sd.keys()) set(name, (p) => torch.zerosLike(p));
  set('model.embed_tokens.weight', (p) => torch.randnLike(p));
  set('model.layers.0.self_attn.q_proj.bias', () => torch.tensor(q, { dtype: 'float32' }));
  set('model.layers.0.self_attn.k_proj.bias', () => torch.tensor(k, { dtype: 'float32' }));
  set('model.layers.0.self_attn.v_proj.weight', eye);
  set('model.layers.0.self_attn.o_proj.weight', () => eye().mul(10));
  // the MLP's projections stay 0: it adds nothing
  for (const norm of [
    'model.layers.0.input_layernorm.weight',
    'model.layers.0.post_attention_layernorm.weight',
    'model.norm.weight',
  ])
    set(norm, (p) => torch.onesLike(p));
  // after the weights: <bot> and <eot> start from the embedding of '=', and the latent scale is measured
  const lm = LatentModel.create(model, tokenizer, { mode: 'full', latentInput: 'planted-result' });
  lm.train(false);
  return lm;
}

/** The study's endpoints for `lm`: helps against the same model without spans, used from the shuffled ablation. */
function study(lm: LatentModel) {
  const layout = (latents: number) =>
    EXAMPLES.map((e) => buildLatentSequence(e, lm.tokenizer, { latents, botId: lm.botId, eotId: lm.eotId }));
  const seqs = layout(1);
  const resultOf = (e: ReturnType<typeof evaluateLoss>) => e.perExample.map((p) => p.result);
  const run = evaluateLoss(lm, seqs);
  const reference = evaluateLoss(lm, layout(0));
  const helps = pairedLossDelta(resultOf(reference), resultOf(run));
  const shuffled = latentAblations(lm, seqs, { constantSteps: 2 }).find((x) => x.name === 'shuffled')!;
  const used = { delta: shuffled.resultDelta, ci: shuffled.resultCi };
  return { run, helps, used, verdict: studyVerdict(helps, used).verdict };
}

(haveQwenTokenizer ? describe : describe.skip)('the study on hand-built models', () => {
  test('latents read by construction: used and helps', () => {
    const lm = handBuilt(1);
    try {
      const s = study(lm);
      // the copied latent is the result's embedding: the result token is predicted almost surely
      expect(s.run.resultLoss).toBeLessThan(0.01);
      expect(s.used.ci[0]).toBeGreaterThan(1);
      expect(s.helps.ci[0]).toBeGreaterThan(1);
      expect(s.verdict).toBe('helps');
    } finally {
      lm.dispose();
    }
  });

  test('latents carrying the result but never read: ignored', () => {
    const lm = handBuilt(2);
    try {
      const s = study(lm);
      expect(s.used.delta).toBe(0);
      expect(s.used.ci).toEqual([0, 0]);
      // without the latent, the result is not predicted
      expect(s.run.resultLoss).toBeGreaterThan(1);
      expect(s.verdict).toBe('ignored');
    } finally {
      lm.dispose();
    }
  });
});
