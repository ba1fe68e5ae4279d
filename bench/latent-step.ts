// Latent-step benchmark: torch.latentStep (one fused native op with its own backward) against the
// same formula composed from primitive operators — here (latentStepReference) and in PyTorch's Python
// API (bench/python/latent_step.py) — forward and forward+backward, B in {1, 8, 64}, D in {896, 4096}.
//
//   npm run bench -- latent-step [--cases fwd.B8.D896.fused,...] [--repeats N] [--skip pytorch] ...
//
// Environment: LATENT_STEP_DEVICE=cuda runs every case on the GPU (each iteration ends with a device
// synchronisation, on both sides); LATENT_STEP_DTYPE=bfloat16|float16|float64 changes the dtype
// (default float32). The Python counterpart reads the same variables.
//
// Goal (issue "fused latent-step op"): fused >= 3x faster than the composition for B <= 8.
import * as torch from '../src/torch';
import type { Tensor } from '../src/torch';
import { latentStep, latentStepReference } from '../src/torch/kernels/latent-step';
import { formatRatio, pythonCounterpart, runSuite, formatDuration, type BenchCase, type SuiteResult } from './lib';

const DEVICE = process.env.LATENT_STEP_DEVICE ?? 'cpu';
const DTYPE = (process.env.LATENT_STEP_DTYPE ?? 'float32') as 'float32' | 'float64' | 'bfloat16' | 'float16';
const BATCHES = [1, 8, 64];
const DIMS = [896, 4096];
const SCALE = 0.37; // any constant: the work does not depend on it
const GOAL_SPEEDUP = 3;
const GOAL_MAX_BATCH = 8;

type Mode = 'fwd' | 'fwd_bwd';
type Impl = 'fused' | 'composed';

const caseName = (mode: Mode, rows: number, dim: number, impl: Impl) => `${mode}.B${rows}.D${dim}.${impl}`;

interface Inputs {
  leaves: Tensor[]; // h, normWeight, gain, bias, stopWeight, stopBias
  gradEmbed: Tensor;
  gradStop: Tensor;
}

/** The same values as bench/python/latent_step.py (seeded float32 CPU draws, then converted). */
function makeInputs(rows: number, dim: number): Inputs {
  torch.manualSeed(0);
  const as = (t: Tensor) => t.to(DTYPE).to(DEVICE);
  const leaf = (t: Tensor) => as(t).requiresGrad_();
  const leaves = [
    leaf(torch.randn([rows, dim]).mul(2)),
    leaf(torch.randn([dim]).mul(0.2).add(1)),
    leaf(torch.randn([dim]).mul(0.2).add(1)),
    leaf(torch.randn([dim]).mul(0.1)),
    leaf(torch.randn([dim]).mul(1 / Math.sqrt(dim))),
    leaf(torch.randn([])),
  ];
  return { leaves, gradEmbed: as(torch.randn([rows, dim])), gradStop: as(torch.randn([rows])) };
}

const synchronize = DEVICE.startsWith('cuda') ? () => torch.cuda.synchronize() : () => {};

function stepCase(mode: Mode, rows: number, dim: number, impl: Impl): BenchCase {
  const step = impl === 'fused' ? latentStep : latentStepReference;
  const call = impl === 'fused' ? 'torch.latentStep' : 'latentStepReference';
  return {
    name: caseName(mode, rows, dim, impl),
    group: `${mode === 'fwd' ? 'forward' : 'forward + backward'}, ${DTYPE} on ${DEVICE}`,
    description:
      mode === 'fwd'
        ? `${call}(h, w, g, b, scale, sw, sb) with inputs requiring grad`
        : `o = ${call}(...); torch.autograd.grad([o.embed, o.stopLogit], inputs, {gradOutputs})`,
    // Both ours are compared with PyTorch's composition.
    compareAs: caseName(mode, rows, dim, 'composed'),
    unitsPerIteration: 1,
    setup() {
      const { leaves, gradEmbed, gradStop } = torch.scope(() => makeInputs(rows, dim));
      const [h, w, g, b, sw, sb] = leaves;
      const iteration =
        mode === 'fwd'
          ? () =>
              torch.scope(() => {
                step(h, w, g, b, SCALE, sw, sb);
                synchronize();
              })
          : () =>
              torch.scope(() => {
                const o = step(h, w, g, b, SCALE, sw, sb);
                torch.autograd.grad([o.embed, o.stopLogit], leaves, { gradOutputs: [gradEmbed, gradStop] });
                synchronize();
              });
      const dispose = () => [...leaves, gradEmbed, gradStop].forEach((t) => t.dispose());
      return { iteration, dispose };
    },
  };
}

const CASES: BenchCase[] = (['fwd', 'fwd_bwd'] as Mode[]).flatMap((mode) =>
  BATCHES.flatMap((rows) =>
    DIMS.flatMap((dim) => (['fused', 'composed'] as Impl[]).map((impl) => stepCase(mode, rows, dim, impl))),
  ),
);

/** The speedup of the fused op over our own composition, per shape, with the goal for B <= 8. */
function speedupTable(result: SuiteResult): string {
  const median = new Map(result.rows.map((r) => [r.name, r.ours.summary.median]));
  const python = new Map(result.rows.map((r) => [r.name, r.counterparts.pytorch?.summary.median ?? null]));
  const lines = [
    '| mode | B | D | fused | composed | composed/fused | PyTorch composed | PyTorch/fused | goal |',
    '|---|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  let met = 0;
  let goals = 0;
  for (const mode of ['fwd', 'fwd_bwd'] as Mode[])
    for (const rows of BATCHES)
      for (const dim of DIMS) {
        const fused = median.get(caseName(mode, rows, dim, 'fused'));
        const composed = median.get(caseName(mode, rows, dim, 'composed'));
        if (fused === undefined || composed === undefined) continue; // not selected with --cases
        const py = python.get(caseName(mode, rows, dim, 'fused')) ?? null;
        const speedup = composed / fused;
        let goal = '';
        if (rows <= GOAL_MAX_BATCH) {
          goals++;
          if (speedup >= GOAL_SPEEDUP) met++;
          goal = `≥${GOAL_SPEEDUP}× ${speedup >= GOAL_SPEEDUP ? '✓' : '✗'}`;
        }
        lines.push(
          `| ${mode} | ${rows} | ${dim} | ${formatDuration(fused)} | ${formatDuration(composed)} | ${formatRatio(speedup)} | ` +
            `${py === null ? '–' : formatDuration(py)} | ${py === null ? '–' : formatRatio(py / fused)} | ${goal} |`,
        );
      }
  return `${lines.join('\n')}\n\nfused-vs-composition goals met: ${met}/${goals}`;
}

export async function main(argv: string[]): Promise<void> {
  if (DEVICE.startsWith('cuda') && !torch.cuda.isAvailable())
    throw new Error(`bench latent-step: LATENT_STEP_DEVICE=${DEVICE} but CUDA is unavailable: ${torch.cuda.unavailableReason()}`);
  const result = await runSuite(
    {
      name: 'latent-step',
      title: `latent-step: fused torch.latentStep vs the composition of primitive ops (ours and PyTorch), ${DTYPE} on ${DEVICE}`,
      cases: CASES,
      counterparts: [pythonCounterpart('bench/python/latent_step.py', 'pytorch', 'PyTorch')],
      timing: { warmupMs: 100, sampleMs: 20, repeats: 7, rounds: 2 },
      notes: [
        'composed = latentStepReference (src/torch/kernels/latent-step.ts): h·rsqrt(mean(h²)+eps)·w, then scale·n·g + b and n·sw summed + sb, ' +
          'about a dozen operators and autograd nodes; PyTorch runs the same operators in the same order.',
        'Every input requires grad, so forward rows include recording the autograd graph; backward rows use autograd.grad with given output gradients.',
        'Each row names the PyTorch composition it is compared with: the ours/PyTorch column of a fused row is fused vs PyTorch composed.',
        ...(DEVICE.startsWith('cuda') ? ['CUDA: every iteration ends with torch.cuda.synchronize() on both sides.'] : []),
      ],
    },
    argv,
  );
  if (result) console.log(`\n### fused vs composed\n\n${speedupTable(result)}`);
}
