// KV cache: incremental passes equal full recomputation (in both storage modes and across the switch
// between them), padded batches equal separate runs, and gradients flow through cached passes.
import * as torch from '../../../src/torch';
import type { Tensor } from '../../../src/torch';
import { KVCache, type Qwen2ForCausalLM } from '../../../src/models/qwen2';
import { ids, relativeError, tinyModel } from './helpers';

const TOKENS = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 31];

/** Logits of `chunks` fed one after another through one cache, concatenated along time. */
function chunkedLogits(model: Qwen2ForCausalLM, chunks: number[][], cache = new KVCache(model.config.numHiddenLayers)): Tensor {
  try {
    const parts = chunks.map((chunk) => model.forward({ inputIds: ids(chunk), cache }).logits);
    return torch.cat(parts, 1);
  } finally {
    cache.dispose();
  }
}

function split(tokens: number[], sizes: number[]): number[][] {
  let at = 0;
  return sizes.map((n) => tokens.slice(at, (at += n)));
}

describe('KV cache', () => {
  let model: Qwen2ForCausalLM;
  beforeAll(() => {
    model = tinyModel();
  });
  afterAll(() => model.dispose());

  test('cached passes equal full recomputation without autograd (preallocated buffers)', () => {
    torch.inferenceMode(() => {
      const full = model.forward({ inputIds: ids(TOKENS) }).logits;
      const chunked = chunkedLogits(model, split(TOKENS, [4, 1, 1, 3, 1, 1]));
      expect(relativeError(chunked, full)).toBeLessThan(1e-12);
    });
  });

  test('cached passes equal full recomputation under autograd (concatenation), and switching modes mid-way', () => {
    const full = torch.noGrad(() => model.forward({ inputIds: ids(TOKENS) }).logits);
    expect(relativeError(chunkedLogits(model, split(TOKENS, [4, 1, 1, 3, 1, 1])), full)).toBeLessThan(1e-12);
    // prefill without grad (buffers), continue with grad (the buffer's content becomes the past chunk)
    const cache = new KVCache(model.config.numHiddenLayers);
    const first = torch.noGrad(() => model.forward({ inputIds: ids(TOKENS.slice(0, 6)), cache }).logits);
    const rest = model.forward({ inputIds: ids(TOKENS.slice(6)), cache }).logits;
    expect(rest.requiresGrad).toBe(true);
    expect(relativeError(torch.cat([first, rest.detach()], 1), full)).toBeLessThan(1e-12);
    cache.dispose();
  });

  test('buffers grow past their first capacity without changing results', () => {
    const long = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 64);
    torch.inferenceMode(() => {
      const full = model.forward({ inputIds: ids(long) }).logits;
      const oneByOne = chunkedLogits(model, [long.slice(0, 2), ...long.slice(2).map((t) => [t])]);
      expect(relativeError(oneByOne, full)).toBeLessThan(1e-12);
    });
  });

  test('the cache holds its tensors across torch.scope and frees them on dispose', () => {
    const before = torch.memory().liveTensors;
    const cache = new KVCache(model.config.numHiddenLayers);
    torch.inferenceMode(() => {
      torch.scope(() => void model.forward({ inputIds: ids([1, 2, 3]), cache }));
      torch.scope(() => void model.forward({ inputIds: ids([4]), cache }));
    });
    expect(cache.length).toBe(4);
    expect(cache.batchSize).toBe(1);
    cache.dispose();
    expect(torch.memory().liveTensors).toBe(before);
    expect(() => model.forward({ inputIds: ids([1]), cache })).toThrow(/after dispose/);
  });

  test('rejects a cache of another batch size or layer count', () => {
    const cache = new KVCache(model.config.numHiddenLayers);
    torch.noGrad(() => model.forward({ inputIds: ids([1, 2]), cache }));
    expect(() => torch.noGrad(() => model.forward({ inputIds: torch.tensor([[1], [2]], { dtype: 'int64' }), cache }))).toThrow(
      /cache holds batch 1/,
    );
    cache.dispose();
    expect(() => model.forward({ inputIds: ids([1]), cache: new KVCache(5) })).toThrow(/cache has 5 layers/);
  });
});

describe('padding', () => {
  let model: Qwen2ForCausalLM;
  beforeAll(() => {
    model = tinyModel({}, { seed: 11 });
  });
  afterAll(() => model.dispose());

  const PROMPTS = [
    [5, 6, 7, 8, 9],
    [10, 11],
    [12, 13, 14],
  ];
  const PAD = 0;

  function alone(prompt: number[]): Tensor {
    return torch.noGrad(() => model.forward({ inputIds: ids(prompt) }).logits.select(0, 0));
  }

  function padded(side: 'left' | 'right') {
    const width = Math.max(...PROMPTS.map((p) => p.length));
    const pad = (p: number[]) => new Array(width - p.length).fill(PAD);
    const rows = PROMPTS.map((p) => (side === 'left' ? [...pad(p), ...p] : [...p, ...pad(p)]));
    const mask = PROMPTS.map((p) =>
      side === 'left' ? [...pad(p).map(() => 0), ...p.map(() => 1)] : [...p.map(() => 1), ...pad(p).map(() => 0)],
    );
    return { inputIds: torch.tensor(rows, { dtype: 'int64' }), attentionMask: torch.tensor(mask, { dtype: 'int64' }), width };
  }

  test.each(['left', 'right'] as const)('a %s-padded batch equals each sequence run alone', (side) => {
    const { inputIds, attentionMask, width } = padded(side);
    const logits = torch.noGrad(() => model.forward({ inputIds, attentionMask }).logits);
    expect(Boolean(logits.isnan().any().item())).toBe(false); // padding rows are never fully masked
    PROMPTS.forEach((p, i) => {
      const start = side === 'left' ? width - p.length : 0;
      expect(relativeError(logits.select(0, i).narrow(0, start, p.length), alone(p))).toBeLessThan(1e-12);
    });
  });

  test('a left-padded batch decoded with the cache equals each sequence decoded alone', () => {
    const continuation = [
      [20, 21, 22],
      [23, 24, 25],
      [26, 27, 28],
    ];
    const { inputIds, attentionMask } = padded('left');
    const cache = new KVCache(model.config.numHiddenLayers);
    const steps = torch.inferenceMode(() => {
      model.forward({ inputIds, attentionMask, cache });
      return [0, 1, 2].map(
        (s) =>
          model.forward({
            inputIds: torch.tensor(
              continuation.map((c) => [c[s]]),
              { dtype: 'int64' },
            ),
            cache,
          }).logits,
      );
    });
    cache.dispose();
    PROMPTS.forEach((p, i) => {
      const reference = alone([...p, ...continuation[i]]).narrow(0, p.length, 3);
      const decoded = torch.cat(
        steps.map((s) => s.select(0, i)),
        0,
      );
      expect(relativeError(decoded, reference)).toBeLessThan(1e-12);
    });
  });

  test('a mask over past and new positions (Hugging Face style) is accepted with the cache', () => {
    const { inputIds, attentionMask, width } = padded('left');
    const cache = new KVCache(model.config.numHiddenLayers);
    const step = torch.inferenceMode(() => {
      model.forward({ inputIds, attentionMask, cache });
      const fullMask = torch.cat([attentionMask, torch.ones([3, 1], { dtype: 'int64' })], 1);
      return model.forward({ inputIds: torch.tensor([[1], [1], [1]], { dtype: 'int64' }), attentionMask: fullMask, cache })
        .logits;
    });
    cache.dispose();
    expect(relativeError(step.select(0, 1).select(0, 0), alone([...PROMPTS[1], 1]).select(0, PROMPTS[1].length))).toBeLessThan(
      1e-12,
    );
    expect(() => model.forward({ inputIds: ids([1, 2]), attentionMask: torch.ones([1, width]) })).toThrow(
      /attentionMask must be/,
    );
  });
});

describe('gradients through cached passes', () => {
  let model: Qwen2ForCausalLM;
  beforeAll(() => {
    model = tinyModel(
      { hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numKeyValueHeads: 1, vocabSize: 32 },
      { seed: 3 },
    );
  });
  afterAll(() => model.dispose());

  const weights = () => torch.scope(() => torch.arange(0, 32, { dtype: 'float64' }).sin());

  /** A scalar of the last pass's logits after passes over embeds[:3], embeds[3:5], embeds[5:] through one cache. */
  function cachedLoss(embeds: Tensor): Tensor {
    const cache = new KVCache(model.config.numHiddenLayers);
    try {
      model.forward({ inputsEmbeds: embeds.narrow(1, 0, 3), cache });
      model.forward({ inputsEmbeds: embeds.narrow(1, 3, 2), cache });
      const last = model.forward({ inputsEmbeds: embeds.narrow(1, 5, 1), cache });
      return last.logits.mul(weights()).sum().add(last.preNormHidden.pow(2).sum().mul(0.1));
    } finally {
      cache.dispose();
    }
  }

  test('equal the gradients of one full pass, and finite differences', () => {
    const embeds = torch.scope(() => torch.randn([1, 6, 16], { dtype: 'float64' }).mul(0.5));
    const x = embeds.clone().requiresGrad_();
    const [gradCached] = torch.autograd.grad(cachedLoss(x), x);

    const y = embeds.clone().requiresGrad_();
    const full = model.forward({ inputsEmbeds: y });
    const fullLoss = full.logits
      .narrow(1, 5, 1)
      .mul(weights())
      .sum()
      .add(full.preNormHidden.narrow(1, 5, 1).pow(2).sum().mul(0.1));
    const [gradFull] = torch.autograd.grad(fullLoss, y);
    expect(relativeError(gradCached!, gradFull!)).toBeLessThan(1e-10);
    // earlier passes matter: the gradient reaches the first chunk through the cached keys and values
    expect(gradCached!.narrow(1, 0, 3).abs().max().item()).toBeGreaterThan(1e-3);

    const eps = 1e-6;
    const flatGrad = gradCached!.reshape([-1]).tolist() as number[];
    for (const index of [0, 17, 40, 55, 70, 95]) {
      const at = (delta: number) =>
        torch.noGrad(() => {
          const shifted = embeds.clone();
          shifted.reshape([-1]).narrow(0, index, 1).add_(delta);
          return cachedLoss(shifted).item();
        });
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      expect(Math.abs(numeric - flatGrad[index])).toBeLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
    }
  });

  test('reach the parameters of every layer', () => {
    model.zeroGrad();
    const embeds = torch.scope(() => torch.randn([1, 6, 16], { dtype: 'float64' }));
    cachedLoss(embeds).backward();
    for (const [name, p] of model.namedParameters()) {
      const g = p.grad;
      if (name === 'model.embed_tokens.weight') continue; // inputs were embeddings, and the head is untied
      expect([name, g !== null && g.abs().sum().item() > 0]).toEqual([name, true]);
    }
    model.zeroGrad();
  });
});
