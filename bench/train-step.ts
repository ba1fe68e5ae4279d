// Training-step benchmark: forward, backward and an AdamW update of (1) a 4-layer MLP of width 1024
// (batch 64) and (2) a small pre-norm transformer block (hidden 256, 4 heads, seq 128, batch 8:
// RMSNorm -> causal SDPA attention -> residual -> RMSNorm -> SwiGLU MLP -> residual), written with
// our nn modules, against the same models written with torch.nn in Python (bench/python/train_step.py).
//
//   npm run bench -- train-step [--cases block_step] [--repeats N] [--threads T] ...   (see --help)
//
// Each model has three cases: the whole step, forward + backward alone, and the AdamW update alone
// (over gradients left in place), so that a gap in the whole step can be traced to autograd or to
// the optimizer. Both sides seed the generator identically and build their layers in the same order,
// so the weights and inputs are the same tensors on both sides.
import * as torch from '../src/torch';
import { nn, F, type Tensor } from '../src/torch';
import { pythonCounterpart, runSuite, type BenchCase } from './lib';

// Kept equal to bench/python/train_step.py.
const MLP = { layers: 4, width: 1024, batch: 64 };
const BLOCK = { hidden: 256, heads: 4, intermediate: 1024, seq: 128, batch: 8, eps: 1e-6 };
const ADAMW = { lr: 1e-4, weightDecay: 0.01 };

class Mlp extends nn.Module {
  layers: nn.ModuleList<nn.Linear>;
  constructor({ layers, width }: { layers: number; width: number }) {
    super();
    this.layers = new nn.ModuleList(Array.from({ length: layers }, () => new nn.Linear(width, width)));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      h = this.layers.at(i).forward(h);
      if (i < this.layers.length - 1) h = F.relu(h);
    }
    return h;
  }
}

/** A pre-norm decoder block in the layout of Qwen2's (q/k/v with bias, o without, SwiGLU MLP). */
class Block extends nn.Module {
  inputNorm: nn.RMSNorm;
  q: nn.Linear;
  k: nn.Linear;
  v: nn.Linear;
  o: nn.Linear;
  postNorm: nn.RMSNorm;
  gate: nn.Linear;
  up: nn.Linear;
  down: nn.Linear;
  constructor(readonly cfg: typeof BLOCK) {
    super();
    const { hidden, intermediate, eps } = cfg;
    this.inputNorm = new nn.RMSNorm(hidden, eps);
    this.q = new nn.Linear(hidden, hidden);
    this.k = new nn.Linear(hidden, hidden);
    this.v = new nn.Linear(hidden, hidden);
    this.o = new nn.Linear(hidden, hidden, { bias: false });
    this.postNorm = new nn.RMSNorm(hidden, eps);
    this.gate = new nn.Linear(hidden, intermediate, { bias: false });
    this.up = new nn.Linear(hidden, intermediate, { bias: false });
    this.down = new nn.Linear(intermediate, hidden, { bias: false });
  }
  forward(x: Tensor): Tensor {
    const [b, s, h] = x.shape;
    const { heads } = this.cfg;
    const headDim = h / heads;
    const split = (t: Tensor) => t.view([b, s, heads, headDim]).transpose(1, 2);
    const y = this.inputNorm.forward(x);
    const attn = F.scaledDotProductAttention(split(this.q.forward(y)), split(this.k.forward(y)), split(this.v.forward(y)), {
      isCausal: true,
    });
    const afterAttn = x.add(this.o.forward(attn.transpose(1, 2).reshape([b, s, h])));
    const z = this.postNorm.forward(afterAttn);
    return afterAttn.add(this.down.forward(F.silu(this.gate.forward(z)).mul(this.up.forward(z))));
  }
}

/** A model, its optimizer and one batch, built from seed 0 (the Python side builds the same). */
export interface Setup {
  model: nn.Module;
  optimizer: torch.optim.AdamW;
  loss: () => Tensor;
  inputs: Tensor[];
}

export function mlpSetup(): Setup {
  torch.manualSeed(0);
  const model = new Mlp(MLP);
  const x = torch.keep(torch.randn([MLP.batch, MLP.width]));
  const labels = torch.keep(torch.randint(0, MLP.width, [MLP.batch]));
  const optimizer = new torch.optim.AdamW(model.parameters(), ADAMW);
  return { model, optimizer, loss: () => F.crossEntropy(model.forward(x), labels), inputs: [x, labels] };
}

export function blockSetup(): Setup {
  torch.manualSeed(0);
  const model = new Block(BLOCK);
  const x = torch.keep(torch.randn([BLOCK.batch, BLOCK.seq, BLOCK.hidden]));
  const target = torch.keep(torch.randn([BLOCK.batch, BLOCK.seq, BLOCK.hidden]));
  const optimizer = new torch.optim.AdamW(model.parameters(), ADAMW);
  return { model, optimizer, loss: () => F.mseLoss(model.forward(x), target), inputs: [x, target] };
}

function teardown(s: Setup): void {
  s.optimizer.dispose();
  s.model.dispose();
  s.inputs.forEach((t) => t.dispose());
}

type Part = 'step' | 'fwd_bwd' | 'adamw';

const PART_DESCRIPTIONS: Record<Part, string> = {
  step: 'loss = lossFn(model(x)); loss.backward(); opt.step(); opt.zeroGrad()',
  fwd_bwd: 'loss = lossFn(model(x)); loss.backward(); model.zeroGrad()',
  adamw: 'opt.step() over gradients left in place by one backward',
};

function partCase(prefix: string, group: string, build: () => Setup, part: Part): BenchCase {
  return {
    name: `${prefix}_${part}`,
    group,
    description: PART_DESCRIPTIONS[part],
    unitsPerIteration: 1,
    setup() {
      const s = build();
      const { loss, optimizer, model } = s;
      let iteration: () => void;
      if (part === 'step')
        iteration = () =>
          torch.scope(() => {
            loss().backward();
            optimizer.step();
            optimizer.zeroGrad();
          });
      else if (part === 'fwd_bwd')
        iteration = () =>
          torch.scope(() => {
            loss().backward();
            model.zeroGrad();
          });
      else {
        torch.scope(() => loss().backward());
        iteration = () => optimizer.step();
      }
      return { iteration, dispose: () => teardown(s) };
    },
  };
}

const MLP_GROUP = `MLP: ${MLP.layers} x Linear(${MLP.width}, ${MLP.width}) with ReLU, batch ${MLP.batch}, cross-entropy`;
const BLOCK_GROUP =
  `transformer block: hidden ${BLOCK.hidden}, ${BLOCK.heads} heads, seq ${BLOCK.seq}, batch ${BLOCK.batch} ` +
  `(RMSNorm, causal SDPA, SwiGLU ${BLOCK.intermediate}), MSE`;
const PARTS: Part[] = ['step', 'fwd_bwd', 'adamw'];

export const CASES: BenchCase[] = [
  ...PARTS.map((p) => partCase('mlp', MLP_GROUP, mlpSetup, p)),
  ...PARTS.map((p) => partCase('block', BLOCK_GROUP, blockSetup, p)),
];

export async function main(argv: string[]): Promise<void> {
  await runSuite(
    {
      name: 'train-step',
      title: 'train-step: forward, backward and AdamW, ours vs PyTorch (Python, torch.nn + torch.optim.AdamW)',
      cases: CASES,
      counterparts: [
        pythonCounterpart('bench/python/train_step.py', 'pytorch', 'PyTorch'),
        pythonCounterpart('bench/python/train_step.py', 'pytorch_fused', 'PyTorch fused AdamW', { TRAIN_STEP_FUSED_ADAMW: '1' }),
      ],
      timing: { warmupMs: 500, sampleMs: 250, repeats: 5, rounds: 2 },
      notes: [
        'float32 on CPU; both sides build the same weights and batch from seed 0 and use the same intra-op threads.',
        `AdamW(lr=${ADAMW.lr}, weight_decay=${ADAMW.weightDecay}): ours is torch.optim.AdamW (libtorch's fused kernel, _fused_adamw_); ` +
          "PyTorch's is torch.optim.AdamW with its defaults (for-loop implementation on CPU), and with fused=True (the same kernel).",
        'Gradients are cleared to None after each step on both sides (set_to_none).',
      ],
    },
    argv,
  );
}
