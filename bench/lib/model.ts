// The randomly initialised Qwen2 the benchmarks time (tied embeddings, float32), built one way for
// every bench so that cases compare the same model and its Python counterparts can rebuild it.
import { Qwen2ForCausalLM, initQwen2Weights, makeQwen2Config } from '../../src/models/qwen2';

export interface BenchModelShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  /** rotary base (default: the config's) */
  ropeTheta?: number;
}

/** A tied-embedding float32 Qwen2 of `shape`, weights from initQwen2Weights (normal(0, std), seeded). */
export function benchQwen2(
  shape: BenchModelShape,
  { std = 0.02, seed = 0 }: { std?: number; seed?: number } = {},
): Qwen2ForCausalLM {
  const config = makeQwen2Config({
    vocabSize: shape.vocab,
    hiddenSize: shape.hidden,
    intermediateSize: shape.intermediate,
    numHiddenLayers: shape.layers,
    numAttentionHeads: shape.heads,
    numKeyValueHeads: shape.kvHeads,
    ...(shape.ropeTheta !== undefined ? { ropeTheta: shape.ropeTheta } : {}),
    tieWordEmbeddings: true,
  });
  const model = new Qwen2ForCausalLM(config, { dtype: 'float32' });
  initQwen2Weights(model, { std, seed });
  return model;
}
