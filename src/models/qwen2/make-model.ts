// Random Qwen2 checkpoints of any size, in Hugging Face format: for tests (parity with transformers),
// experiments, and as a starting point for training from scratch.
import * as torch from '../../torch';
import type { DType } from '../../torch';
import { Tokenizer } from '../tokenizer';
import { makeQwen2Config, type Qwen2Config } from './config';
import { saveQwen2 } from './loading';
import { Qwen2ForCausalLM } from './modeling';

export interface InitOptions {
  /** standard deviation of the normal draws (Hugging Face's initializer_range; default 0.02) */
  std?: number;
  /** seeds the global generator (torch.manualSeed) first, for reproducible weights */
  seed?: number;
  /**
   * 'hf': as transformers' _init_weights: weights ~ N(0, std), biases 0, norm gains 1.
   * 'full': also biases ~ N(0, std) and norm gains ~ 1 + N(0, std), so that every parameter
   * influences the output (what parity tests need).
   */
  scheme?: 'hf' | 'full';
}

/** Initialises every parameter in place, in state-dict order (reproducible given the seed). */
export function initQwen2Weights(model: Qwen2ForCausalLM, { std = 0.02, seed, scheme = 'hf' }: InitOptions = {}): void {
  if (!(std > 0)) throw new RangeError(`std must be positive, got ${std}`);
  if (scheme !== 'hf' && scheme !== 'full')
    throw new RangeError(`init scheme must be 'hf' or 'full', got ${JSON.stringify(scheme)}`);
  if (seed !== undefined) torch.manualSeed(seed);
  torch.noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const isNorm = name.endsWith('norm.weight');
      const isBias = name.endsWith('.bias');
      if (isNorm) {
        if (scheme === 'full') p.normal_(1, std);
        else p.fill_(1);
      } else if (isBias) {
        if (scheme === 'full') p.normal_(0, std);
        else p.zero_();
      } else {
        p.normal_(0, std);
      }
    }
  });
}

export interface MakeModelOptions extends InitOptions {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads?: number;
  intermediate: number;
  vocab: number;
  headDim?: number;
  tie?: boolean;
  /** dtype of the saved weights (default float32); values are drawn in float32 and rounded */
  dtype?: DType;
  ropeTheta?: number;
  maxPositionEmbeddings?: number;
  rmsNormEps?: number;
  /** copy this directory's tokenizer into the checkpoint and take bos/eos/pad ids from it */
  tokenizerDir?: string;
  /** largest safetensors shard in bytes (default: one file) */
  maxShardBytes?: number;
  /** write into a non-empty directory that holds no model of this library (see saveQwen2) */
  force?: boolean;
}

/** Writes a random Qwen2 checkpoint (config.json, generation_config.json, model.safetensors[, tokenizer]) to `outDir`. */
export function makeModel(outDir: string, o: MakeModelOptions): Qwen2Config {
  const tokenizer = o.tokenizerDir ? Tokenizer.fromDir(o.tokenizerDir) : null;
  if (tokenizer && tokenizer.vocabSize > o.vocab) {
    throw new RangeError(`the tokenizer in ${o.tokenizerDir} has ${tokenizer.vocabSize} ids, more than --vocab ${o.vocab}`);
  }
  const eos = tokenizer?.eosTokenId;
  const config = makeQwen2Config({
    vocabSize: o.vocab,
    hiddenSize: o.hidden,
    intermediateSize: o.intermediate,
    numHiddenLayers: o.layers,
    numAttentionHeads: o.heads,
    numKeyValueHeads: o.kvHeads,
    headDim: o.headDim,
    tieWordEmbeddings: o.tie ?? false,
    ropeTheta: o.ropeTheta,
    maxPositionEmbeddings: o.maxPositionEmbeddings,
    rmsNormEps: o.rmsNormEps,
    bosTokenId: tokenizer?.bosTokenId ?? null,
    eosTokenIds: eos === undefined ? [] : [eos],
    padTokenId: tokenizer?.padTokenId ?? null,
    torchDtype: o.dtype ?? 'float32',
  });
  const model = new Qwen2ForCausalLM(config, { dtype: 'float32' });
  try {
    initQwen2Weights(model, o);
    saveQwen2(model, outDir, { dtype: o.dtype ?? 'float32', tokenizer, maxShardBytes: o.maxShardBytes, force: o.force });
  } finally {
    model.dispose();
  }
  return config;
}
