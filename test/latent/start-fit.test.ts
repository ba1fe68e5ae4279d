import '../helpers/one-thread';
import * as torch from '../../src/torch';
import { fitLogistic, startFeatures } from '../../src/latent/start-fit';
import { trainSft, loadSftRun } from '../../src/train/sft';
import { RunDir } from '../../src/train/run-dir';
import { runPython, findPython } from '../helpers/python';
import { encodeTensor } from '../helpers/torch-python';
import { haveQwenTokenizer, sftConfigOn, sftFixtureSuite, shortRun } from '../helpers/sft-fixture';

const havePython = findPython() !== null;
const maybe = havePython ? describe : describe.skip;

// The converged probe, computed independently in PyTorch: the same objective minimised by L-BFGS in
// float64, then the best F1 over thresholds on held-out features (a sweep written here, not ours).
const PROBE = `
import torch
X = INPUT["X"].double(); y = torch.tensor(INPUT["y"], dtype=torch.float64)
N, D = X.shape
pw = INPUT["posWeight"]; l2 = INPUT["l2"]
c = torch.where(y == 1, torch.tensor(pw, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
w = torch.zeros(D, dtype=torch.float64, requires_grad=True); b = torch.zeros((), dtype=torch.float64, requires_grad=True)
opt = torch.optim.LBFGS([w, b], lr=1, max_iter=5000, tolerance_grad=1e-14, tolerance_change=1e-16, history_size=50, line_search_fn="strong_wolfe")
def closure():
    opt.zero_grad()
    z = X @ w + b
    loss = (c * torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")).mean() + 0.5 * l2 * (w * w).sum()
    loss.backward()
    return loss
for _ in range(5):
    opt.step(closure)
out = {"weight": w.detach().tolist(), "bias": b.item()}
if "Xv" in INPUT:
    s = (INPUT["Xv"].double() @ w.detach() + b.detach()).tolist(); t = INPUT["yv"]
    best = 0.0
    for th in sorted(set(s)):
        tp = sum(1 for a, q in zip(s, t) if a >= th and q == 1); fp = sum(1 for a, q in zip(s, t) if a >= th and q != 1)
        fn = sum(1 for a, q in zip(s, t) if a < th and q == 1)
        if tp: best = max(best, 2 * tp / (2 * tp + fp + fn))
    out["f1"] = best
emit(out)
`;

maybe('start classifier: post-training fit on frozen features', () => {
  test('fitLogistic reaches the optimum PyTorch L-BFGS finds (float64)', () => {
    torch.manualSeed(7);
    const X = torch.randn([300, 6], { dtype: 'float64' });
    const truth = torch.tensor([1.5, -2, 0.5, 0, 1, -0.7], { dtype: 'float64' });
    const p = X.matmul(truth).sub(1.2).sigmoid().toTypedArray() as Float64Array;
    const u = torch.rand([300], { dtype: 'float64' }).toTypedArray() as Float64Array;
    const y = Array.from(p, (q, i) => (u[i] < q ? 1 : 0));
    const fit = fitLogistic(X, y, { l2: 1e-3 });
    const positives = y.filter((t) => t === 1).length;
    const py = runPython<{ weight: number[]; bias: number }>(PROBE, {
      X: encodeTensor(X),
      y,
      posWeight: (y.length - positives) / positives,
      l2: 1e-3,
    });
    const w = Array.from(fit.weight.toTypedArray() as Float64Array);
    w.forEach((v, i) => expect(Math.abs(v - py.weight[i])).toBeLessThan(1e-7));
    expect(Math.abs(fit.bias - py.bias)).toBeLessThan(1e-7);
    expect(fit.iterations).toBeLessThan(30);
    fit.weight.dispose();
    X.dispose();
    truth.dispose();
  });

  test('fitLogistic refuses mismatched rows', () => {
    const X = torch.zeros([3, 2], { dtype: 'float64' });
    expect(() => fitLogistic(X, [0, 1])).toThrow(/3 feature rows but 2 targets/);
    X.dispose();
  });

  (haveQwenTokenizer ? describe : describe.skip)('in training', () => {
    const fx = sftFixtureSuite('lt-startfit-');
    const config = sftConfigOn(fx, {
      latents: 1,
      ...shortRun({ steps: 12, every: 12, lr: 1e-5, minLr: 1e-6, warmupSteps: 1, evalExamples: 8 }),
    });
    const calibratedF1 = (out: string) =>
      new RunDir(out)
        .readJsonl<{ split: string; startF1Calibrated?: number }>('evals.jsonl')
        .filter((e) => e.split === 'validation')
        .at(-1)!.startF1Calibrated!;

    test('at a language-model learning rate the fit brings calibrated F1 within 0.05 of a converged probe on the same features', async () => {
      const fitted = await trainSft(config({ out: 'fit', startFitExamples: 40 }), { quiet: true });
      const plain = await trainSft(config({ out: 'plain', startFitExamples: 0 }), { quiet: true });
      const fitRecord = new RunDir(fitted.out).readJson<{ rows: number; iterations: number }>('start-fit.json')!;
      expect(fitRecord.rows).toBeGreaterThan(100);
      const run = await loadSftRun(fitted.out, { quiet: true });
      try {
        run.lm.train(false);
        const train = startFeatures(
          run.lm,
          run.data.train.slice(0, 40).map((e) => run.data.sequence(e)),
        );
        const val = startFeatures(
          run.lm,
          run.data.validation.slice(0, 8).map((e) => run.data.sequence(e)),
        );
        const positives = train.targets.filter((t) => t === 1).length;
        const probe = runPython<{ f1: number }>(PROBE, {
          X: encodeTensor(train.features),
          y: train.targets,
          Xv: encodeTensor(val.features),
          yv: val.targets,
          posWeight: (train.targets.length - positives) / positives,
          l2: 1e-3,
        });
        train.features.dispose();
        val.features.dispose();
        const ours = calibratedF1(fitted.out);
        const before = calibratedF1(plain.out);
        console.log(
          `start F1 at the calibrated threshold: fit ${ours.toFixed(3)}, no fit ${before.toFixed(3)}, converged probe ${probe.f1.toFixed(3)}`,
        );
        expect(probe.f1).toBeGreaterThan(0.5); // the fixture is one where a probe can
        expect(ours).toBeGreaterThanOrEqual(probe.f1 - 0.05);
        expect(before).toBeLessThan(probe.f1 - 0.05); // without the fit, the probe at lr 1e-5 is not there
      } finally {
        run.lm.dispose();
      }
    }, 600_000);
  });
});
