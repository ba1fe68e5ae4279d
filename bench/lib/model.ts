// The randomly initialised Qwen2 the benchmarks time (tied embeddings, float32), built one way for
// every bench so that cases compare the same model and its Python counterparts can rebuild it.
import type { DType } from '../../src/torch';
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

/**
 * The shape, device and dtype a model bench runs at, read from `<PREFIX>_BENCH_SHAPE` (a key of `shapes`, default
 * `default`), `<PREFIX>_BENCH_DEVICE` (default cpu) and `<PREFIX>_BENCH_DTYPE` (default float32).
 */
export function benchSettingsFromEnv<S extends { default: unknown }>(
  bench: string,
  prefix: string,
  shapes: S,
): { name: keyof S; shape: S[keyof S]; device: string; dtype: DType } {
  const name = (process.env[`${prefix}_BENCH_SHAPE`] ?? 'default') as keyof S;
  if (!(name in shapes))
    throw new Error(
      `bench ${bench}: ${prefix}_BENCH_SHAPE must be one of ${Object.keys(shapes).join(', ')}, got ${String(name)}`,
    );
  return {
    name,
    shape: shapes[name],
    device: process.env[`${prefix}_BENCH_DEVICE`] ?? 'cpu',
    dtype: (process.env[`${prefix}_BENCH_DTYPE`] ?? 'float32') as DType,
  };
}
