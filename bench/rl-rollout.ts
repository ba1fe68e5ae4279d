// RL rollout benchmark: the batched sampling loop of phase 2 (src/rl/policy.ts sampleRollouts: KV
// cache, per-row positions and masks, token sampling, start/stop decisions, fused latent step,
// latents kept for the update) against the same loop written in Python over Hugging Face
// transformers' Qwen2ForCausalLM on the same libtorch (bench/python/rl_rollout.py).
//
//   npm run bench -- rl-rollout [--cases small.B8.latents,...] [--repeats N] [--threads T] ...
//
// Both sides load the same checkpoints, written here by makeModel (build/bench-cache/rl-rollout/<shape>/:
// config.json, model.safetensors, and heads.safetensors with the latent heads). The heads are set so
// that the work is identical on both sides whatever is sampled: the start classifier always opens a
// span (bias +20), the end classifier never stops it (bias -20), so each span runs to the cap; no
// end-of-sequence token. A rollout of T tokens then takes T·(L+3) steps per row (<bot>, L latents,
// the capped stop's <eot>, the token), which the tables count as positions. Tokens are sampled at
// temperature 1 from the full vocabulary (<bot>/<eot> excluded).
//
// Environment: RL_ROLLOUT_DEVICE=cuda runs on the GPU (both sides).
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../src/torch';
import type { Tensor } from '../src/torch';
import { makeModel } from '../src/models/qwen2/make-model';
import { loadQwen2 } from '../src/models/qwen2/loading';
import { SafetensorsFile, writeSafetensors, type TensorSpec } from '../src/torch/io/safetensors';
import { LatentHeads } from '../src/latent/heads';
import { qwen2Backbone } from '../src/latent/qwen2-trunks';
import { disposeRollouts, sampleRollouts, type PolicyModules, type RolloutOptions } from '../src/rl/policy';
import { ROOT, pythonCounterpart, runSuite, type BenchCase } from './lib';

const DEVICE = process.env.RL_ROLLOUT_DEVICE ?? 'cpu';
const MODELS_DIR = path.join(ROOT, 'build', 'bench-cache', 'rl-rollout');

// Kept equal to bench/python/rl_rollout.py.
export const SHAPES = {
  tiny: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 512 },
  small: { layers: 4, hidden: 512, heads: 8, kvHeads: 2, intermediate: 1408, vocab: 16384 },
} as const;
export type ShapeName = keyof typeof SHAPES;
export const LOOP = { prompt: 16, tokens: 12, latents: 2 };
const HEAD_NAMES = ['markers', 'gain', 'bias', 'stopWeight', 'stopBias', 'startWeight', 'startBias'] as const;
const SCALE = 0.9;

/** Writes (once) the checkpoint and the heads of a shape; returns its directory. */
function ensureModel(shape: ShapeName): string {
  const dir = path.join(MODELS_DIR, shape);
  if (fs.existsSync(path.join(dir, 'heads.safetensors'))) return dir;
  const s = SHAPES[shape];
  makeModel(dir, {
    layers: s.layers,
    hidden: s.hidden,
    heads: s.heads,
    kvHeads: s.kvHeads,
    intermediate: s.intermediate,
    vocab: s.vocab,
    seed: 0,
    std: 0.02,
  });
  torch.scope(() => {
    torch.manualSeed(1);
    const D = s.hidden;
    const values: Record<(typeof HEAD_NAMES)[number], Tensor> = {
      markers: torch.randn([2, D]).mul(0.02),
      gain: torch.randn([D]).mul(0.1).add(1),
      bias: torch.randn([D]).mul(0.02),
      stopWeight: torch.randn([D]).mul(0.01),
      stopBias: torch.tensor(-20, { dtype: 'float32' }),
      startWeight: torch.randn([D]).mul(0.01),
      startBias: torch.tensor(20, { dtype: 'float32' }),
    };
    const specs = new Map<string, TensorSpec>(
      HEAD_NAMES.map((n) => [n, { dtype: 'F32', shape: values[n].shape, data: () => torch.toBytes(values[n]) }]),
    );
    writeSafetensors(path.join(dir, 'heads.safetensors'), specs, { format: 'pt', scale: String(SCALE) });
  });
  return dir;
}

export function loadPolicy(shape: ShapeName): { m: PolicyModules; dispose: () => void } {
  const dir = ensureModel(shape);
  const { model } = loadQwen2(dir, { device: DEVICE, tokenizer: false });
  model.train(false);
  const s = SHAPES[shape];
  const heads = torch.scope(() => new LatentHeads({ hidden: s.hidden, markerInit: torch.zeros([2, s.hidden]), scale: SCALE }));
  using file = SafetensorsFile.open(path.join(dir, 'heads.safetensors'));
  torch.scope(() =>
    heads.loadStateDict(
      // the file keeps the flat names the Python side reads; the affine form's parameters live under `input.`
      new Map(
        HEAD_NAMES.map((n) => [
          n === 'gain' || n === 'bias' ? `input.${n}` : n,
          torch.fromBytes(file.read(n), 'float32', file.entries.get(n)!.shape),
        ]),
      ),
    ),
  );
  heads.to(DEVICE);
  const backbone = qwen2Backbone(model);
  const m: PolicyModules = {
    backbone,
    latentTrunk: backbone,
    heads,
    botId: s.vocab - 2,
    eotId: s.vocab - 1,
    startLogitOffset: 0,
  };
  return { m, dispose: () => (model.dispose(), heads.dispose()) };
}

function rolloutCase(shape: ShapeName, rows: number, useLatents: boolean): BenchCase {
  const positionsPerToken = useLatents ? LOOP.latents + 3 : 1;
  const options: RolloutOptions = { maxNewTokens: LOOP.tokens, maxLatents: LOOP.latents, temperature: 1, eosIds: [], useLatents };
  const s = SHAPES[shape];
  return {
    name: `${shape}.B${rows}.${useLatents ? 'latents' : 'plain'}`,
    group: `${shape} Qwen2 (${s.layers} layers, hidden ${s.hidden}, vocab ${s.vocab}), float32 on ${DEVICE}`,
    description:
      `sampleRollouts(${rows} prompts of ${LOOP.prompt}, ${LOOP.tokens} tokens` +
      (useLatents ? `, a span of ${LOOP.latents} latents before each token)` : ', no spans)') +
      `, per position (${rows * LOOP.tokens * positionsPerToken} per rollout batch)`,
    unitsPerIteration: rows * LOOP.tokens * positionsPerToken,
    goals: [{ vs: 'pytorch', max: 1.0 }],
    setup() {
      const { m, dispose } = loadPolicy(shape);
      torch.manualSeed(2);
      const prompts = torch
        .scope(() => torch.randint(0, s.vocab - 2, [rows, LOOP.prompt]).tolist() as number[][])
        .map((r) => r.map(Number));
      return {
        iteration: () => disposeRollouts(sampleRollouts(m, prompts, options)),
        dispose,
      };
    },
  };
}

const CASES: BenchCase[] = [
  rolloutCase('tiny', 8, true),
  rolloutCase('tiny', 8, false),
  rolloutCase('small', 8, true),
  rolloutCase('small', 32, true),
  rolloutCase('small', 8, false),
];

export async function main(argv: string[]): Promise<void> {
  if (DEVICE.startsWith('cuda') && !torch.cuda.isAvailable())
    throw new Error(`bench rl-rollout: RL_ROLLOUT_DEVICE=${DEVICE} but CUDA is unavailable: ${torch.cuda.unavailableReason()}`);
  // The checkpoints exist before the counterpart starts (it reads them).
  for (const shape of Object.keys(SHAPES) as ShapeName[]) ensureModel(shape);
  process.env.RL_ROLLOUT_MODELS = MODELS_DIR;
  await runSuite(
    {
      name: 'rl-rollout',
      title:
        "rl-rollout: batched RL rollouts with latent spans (KV cache), ours vs the same loop over transformers' Qwen2ForCausalLM",
      cases: CASES,
      counterparts: [pythonCounterpart('bench/python/rl_rollout.py', 'pytorch', 'PyTorch')],
      timing: { warmupMs: 0, sampleMs: 1, repeats: 5, rounds: 2 },
      notes: [
        'Times are per position (a token, <bot>, latent or <eot> of one row): 1 / throughput. Every row advances one position per step, so each step is one batched decode pass.',
        'Ours: src/rl/policy.ts sampleRollouts — explicit per-row positions and a boolean attention mask built each step, the fused latentStep op, one read-back per step, latents kept.',
        "PyTorch: the same state machine in Python over transformers' Qwen2ForCausalLM (SDPA) with DynamicCache, position_ids and a 2D attention mask; the latent step composed from primitive ops; latents kept.",
        'Both sides load the same checkpoint and heads (build/bench-cache/rl-rollout/); the heads force a span of the capped length before every token, so both do identical work.',
      ],
    },
    argv,
  );
}
