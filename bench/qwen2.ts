// Qwen2 benchmark: the Qwen2-0.5B shape cut to 4 layers (hidden 896, 14 heads, 2 kv heads,
// intermediate 4864, tied embeddings, vocab cut to 32k), ours (src/models/qwen2) against Hugging Face
// transformers' Qwen2ForCausalLM on the same libtorch (bench/python/qwen2.py).
//
//   npm run bench -- qwen2 [--cases forward,train_step,decode_token] [--repeats N] [--threads T] ...
//
// Cases: a forward pass over a 4 x 256 batch (logits at every position, no autograd), a training step's
// forward + backward (next-token cross-entropy), and greedy decoding of 64 tokens with the KV cache
// after a 16-token prompt, reported per decoded token. Both sides seed the generator with 0 and draw
// the weights in state-dict order (normal(0, 0.02) matrices, zero biases, unit norms), so they hold
// the same weights.
//
// Environment (read by both sides): QWEN2_BENCH_SHAPE=default|qwen2-0.5b|tiny (the full 24-layer
// Qwen2-0.5B with its 151,936-token vocabulary, or a tiny model for trying the plumbing),
// QWEN2_BENCH_DEVICE=cpu|cuda (on CUDA every iteration ends with a device synchronisation, on both
// sides), QWEN2_BENCH_DTYPE=float32|bfloat16|float16.
//
// After the table, decoding is set against the memory-bandwidth floor: one decoded token reads every
// weight once, so it cannot take less than (weight bytes) / (copy bandwidth), the bandwidth measured
// here with a large device-to-device copy (bytes read + bytes written per second, as STREAM counts).
import * as fs from 'fs';
import * as torch from '../src/torch';
import { F, type Tensor } from '../src/torch';
import { Qwen2ForCausalLM, generate } from '../src/models/qwen2';
import { benchQwen2, benchSettingsFromEnv } from './lib/model';
import { itemSize } from '../src/torch/types';
import { formatRatio, pythonCounterpart, runSuite, type BenchCase, type SuiteResult } from './lib';

// Kept equal to bench/python/qwen2.py.
const SHAPES = {
  default: {
    layers: 4,
    hidden: 896,
    heads: 14,
    kvHeads: 2,
    intermediate: 4864,
    vocab: 32000,
    ropeTheta: 1e6,
    batch: 4,
    seq: 256,
    prompt: 16,
    newTokens: 64,
  },
  'qwen2-0.5b': {
    layers: 24,
    hidden: 896,
    heads: 14,
    kvHeads: 2,
    intermediate: 4864,
    vocab: 151936,
    ropeTheta: 1e6,
    batch: 4,
    seq: 256,
    prompt: 16,
    newTokens: 64,
  },
  tiny: {
    layers: 2,
    hidden: 64,
    heads: 4,
    kvHeads: 2,
    intermediate: 128,
    vocab: 512,
    ropeTheta: 1e6,
    batch: 2,
    seq: 16,
    prompt: 4,
    newTokens: 8,
  },
};
const SETTINGS = benchSettingsFromEnv('qwen2', 'QWEN2', SHAPES);
const SHAPE_NAME = SETTINGS.name;
export const SHAPE = SETTINGS.shape;
const DEVICE = SETTINGS.device;
const DTYPE = SETTINGS.dtype;
const synchronize = DEVICE.startsWith('cuda') ? () => torch.cuda.synchronize() : () => {};

function buildModel(): Qwen2ForCausalLM {
  return benchQwen2(SHAPE);
}

/** Token ids [rows, cols] drawn after the weights, from the same generator state on both sides. */
function tokens(rows: number, cols: number): Tensor {
  return torch.keep(torch.scope(() => torch.randint(0, SHAPE.vocab, [rows, cols]).to(DEVICE)));
}

const GROUP =
  `${SHAPE_NAME === 'tiny' ? 'tiny Qwen2' : 'Qwen2-0.5B shape'}, ${SHAPE.layers} layers (hidden ${SHAPE.hidden}, ${SHAPE.heads}/${SHAPE.kvHeads} heads, ` +
  `MLP ${SHAPE.intermediate}, vocab ${SHAPE.vocab}), ${DTYPE} on ${DEVICE}`;

export const CASES: BenchCase[] = [
  {
    name: 'forward',
    group: GROUP,
    description: `noGrad: model.forward({inputIds: [${SHAPE.batch}, ${SHAPE.seq}]}).logits`,
    unitsPerIteration: 1,
    setup() {
      const model = buildModel();
      const ids = tokens(SHAPE.batch, SHAPE.seq);
      return {
        iteration: () => (torch.noGrad(() => torch.scope(() => void model.forward({ inputIds: ids }))), synchronize()),
        dispose: () => (model.dispose(), ids.dispose()),
      };
    },
  },
  {
    name: 'train_step',
    group: GROUP,
    description: `crossEntropy(logits[:, :-1], ids[:, 1:]).backward(); model.zeroGrad()  (batch ${SHAPE.batch} x ${SHAPE.seq})`,
    unitsPerIteration: 1,
    goals: [{ vs: 'pytorch', max: 1.0 }],
    setup() {
      const model = buildModel().train();
      const ids = tokens(SHAPE.batch, SHAPE.seq);
      const iteration = () =>
        torch.scope(() => {
          const logits = model.forward({ inputIds: ids }).logits;
          const n = SHAPE.seq - 1;
          const loss = F.crossEntropy(logits.narrow(1, 0, n).reshape([-1, SHAPE.vocab]), ids.narrow(1, 1, n).reshape([-1]));
          loss.backward();
          model.zeroGrad();
          synchronize();
        });
      return { iteration, dispose: () => (model.dispose(), ids.dispose()) };
    },
  },
  {
    name: 'decode_token',
    group: GROUP,
    description: `generate(model, [prompt of ${SHAPE.prompt}], {maxNewTokens: ${SHAPE.newTokens}}) (greedy, KV cache), per decoded token`,
    unitsPerIteration: SHAPE.newTokens,
    goals: [{ vs: 'pytorch', max: 0.8 }],
    setup() {
      const model = buildModel().eval();
      const prompt = torch.scope(() => (torch.randint(0, SHAPE.vocab, [1, SHAPE.prompt]).tolist() as number[][])[0].map(Number));
      return {
        iteration: () => void generate(model, [prompt], { maxNewTokens: SHAPE.newTokens }),
        dispose: () => model.dispose(),
      };
    },
  },
];

/** Bytes of the weights one decoded token reads: every parameter once (the tied embedding once, as the head). */
function weightBytes(): number {
  const model = buildModel();
  try {
    return model.parameters().reduce((n, p) => n + p.numel() * itemSize(p.dtype), 0);
  } finally {
    model.dispose();
  }
}

/**
 * Copy bandwidth on the benchmark's device, bytes read + written per second: the median of 9 copies
 * of 256 MiB, timed with the suite's clock (with --clock cpu, the process's CPU time, as the decode rows).
 */
function copyBandwidth(clock: unknown): number {
  const cpuNow = () => {
    const u = process.cpuUsage();
    return BigInt(u.user + u.system) * 1000n;
  };
  const now = clock === 'cpu' && !DEVICE.startsWith('cuda') ? cpuNow : () => process.hrtime.bigint();
  const bytes = SHAPE_NAME === 'tiny' ? 16 << 20 : 256 << 20;
  return torch.scope(() => {
    const src = torch.ones([bytes / 4], { dtype: 'float32', device: DEVICE });
    const dst = torch.empty([bytes / 4], { dtype: 'float32', device: DEVICE });
    const times: number[] = [];
    for (let i = 0; i < 11; i++) {
      synchronize();
      const t0 = now();
      dst.copy_(src);
      synchronize();
      if (i >= 2) times.push(Number(now() - t0));
    }
    times.sort((a, b) => a - b);
    return (2 * bytes) / (times[times.length >> 1] / 1e9);
  });
}

/** Decode time per token set against the bandwidth floor, ours and PyTorch's. */
export function floorTable(result: SuiteResult): string | null {
  const row = result.rows.find((r) => r.name === 'decode_token');
  if (!row) return null;
  const bytes = weightBytes();
  const bandwidth = copyBandwidth(result.options.clock);
  const floor = (bytes / bandwidth) * 1e9;
  const ours = row.ours.summary.median;
  const theirs = row.counterparts.pytorch?.summary.median;
  const ms = (ns: number) => `${(ns / 1e6).toFixed(3)} ms`;
  const record = process.env.QWEN2_BENCH_FLOOR_JSON; // for bench/gpu-check.sh's summary
  if (record) {
    const floorRecord = {
      shape: SHAPE_NAME,
      dtype: DTYPE,
      device: DEVICE,
      weightBytes: bytes,
      copyBandwidth: bandwidth,
      floorNs: floor,
      oursNs: ours,
      pytorchNs: theirs ?? null,
    };
    fs.writeFileSync(record, JSON.stringify(floorRecord));
  }
  return [
    `weights ${(bytes / 1e6).toFixed(1)} MB (${DTYPE}); copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s (read + write, ${DEVICE}, ${result.options.clock} clock); floor = weights / bandwidth`,
    '',
    '| decode per token | ours | PyTorch | floor | ours/floor | PyTorch/floor | ours/PyTorch |',
    '|---|--:|--:|--:|--:|--:|--:|',
    `| ${SHAPE_NAME} | ${ms(ours)} | ${theirs === undefined ? '–' : ms(theirs)} | ${ms(floor)} | ${formatRatio(ours / floor)} | ` +
      `${theirs === undefined ? '–' : formatRatio(theirs / floor)} | ${theirs === undefined ? '–' : formatRatio(ours / theirs)} |`,
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  if (DEVICE.startsWith('cuda') && !torch.cuda.isAvailable())
    throw new Error(`bench qwen2: QWEN2_BENCH_DEVICE=${DEVICE} but CUDA is unavailable: ${torch.cuda.unavailableReason()}`);
  const result = await runSuite(
    {
      name: 'qwen2',
      title: "qwen2: Qwen2 forward, training step and KV-cache decoding, ours vs Hugging Face transformers' Qwen2ForCausalLM",
      cases: CASES,
      counterparts: [pythonCounterpart('bench/python/qwen2.py', 'pytorch', 'PyTorch')],
      // One training step takes seconds on two cores: few, single-iteration samples keep a run near 5 minutes.
      timing: { warmupMs: 0, sampleMs: 1, repeats: 3 },
      notes: [
        `${DTYPE} on ${DEVICE}, same intra-op threads; both sides draw the same weights and tokens from seed 0.`,
        "PyTorch side: transformers' Qwen2ForCausalLM with SDPA attention; decoding is a loop of model(next, past_key_values=DynamicCache) + argmax under inference_mode.",
        'Every sample is one iteration (a forward, a training step, or 64 decoded tokens); the warm-up is two iterations.',
        'Decoding one token reads every weight once with the same kernels on both sides, so it is bound by memory bandwidth; ' +
          'what differs is the per-token framework overhead (table below: time per token against the bandwidth floor).',
      ],
    },
    argv,
  );
  const floor = result ? floorTable(result) : null;
  if (floor) console.log(`\n### decode against the memory-bandwidth floor\n\n${floor}`);
}
