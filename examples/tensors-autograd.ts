// Tensors and autograd in 30 lines: fit y = 3x - 1 by gradient descent, and check autograd's
// gradient against the closed form. Run: npx ts-node examples/tensors-autograd.ts
import { torch } from 'latent-tokens';

const steps = process.env.LATENT_EXAMPLES_FAST ? 20 : 200;
torch.manualSeed(0);
const x = torch.linspace(-1, 1, 64, { dtype: 'float64' }).view([64, 1]);
const y = torch.scope(() =>
  x
    .mul(3)
    .sub(1)
    .add(torch.randn([64, 1], { dtype: 'float64' }).mul(0.05)),
);
const w = torch.zeros([1, 1], { dtype: 'float64', requiresGrad: true });
const b = torch.zeros([1], { dtype: 'float64', requiresGrad: true });

for (let step = 0; step <= steps; step++) {
  const loss = torch.scope(() => {
    const l = torch.F.mseLoss(x.matmul(w).add(b), y);
    l.backward();
    if (step === 0) {
      // d/dw mean((xw + b - y)^2) = mean(2 (xw + b - y) x); at w = b = 0 that is -2 mean(x y)
      console.log(`autograd dL/dw ${w.grad!.item().toFixed(6)}, closed form ${x.mul(y).mean().mul(-2).item().toFixed(6)}`);
    }
    torch.noGrad(() => [w, b].forEach((p) => p.sub_(p.grad!.mul(0.5))));
    w.grad = b.grad = null;
    return l.item(); // every tensor made in this step is freed here
  });
  if (step % Math.max(1, steps / 4) === 0) console.log(`step ${step}: loss ${loss.toFixed(5)}`);
}
console.log(`w ${w.item().toFixed(3)} (true 3), b ${b.item().toFixed(3)} (true -1)`, torch.memory());
