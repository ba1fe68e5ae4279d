// Phase 0 and phase 1 on the embedded arithmetic task, from a script: a plain (k = 0) run, its
// model exported in Hugging Face format, then a two-trunk run with 2 latents per calculator
// breakpoint, and its evaluation: test losses, the latent ablations (used? helps?) and accuracy.
// Run: npx ts-node examples/phase1-arithmetic.ts        (LATENT_EXAMPLES_FAST=1: a few steps)
import * as path from 'path';
import { latent, train } from 'latent-tokens';
import { FAST, arithmeticSetup, exampleDir } from './arith-setup';

async function main(): Promise<void> {
  const root = exampleDir('phase1');
  const task = arithmeticSetup(root);
  const budget = {
    steps: FAST ? 6 : 600,
    batchSize: FAST ? 4 : 16,
    lr: 3e-3,
    evalEvery: FAST ? 3 : 100,
    evalExamples: FAST ? 4 : 32,
    validationSize: FAST ? 4 : 32,
  };

  // phase 0: the language model learns to write solutions (no latents)
  const phase0 = path.join(root, 'phase0');
  await train.trainSft(
    train.resolveSftConfig({ model: task.model, data: task.data, out: phase0, mode: 'full', latents: 0, ...budget }),
  );
  const exported = await train.exportSftRun(phase0, path.join(root, 'phase0-model'));
  console.log(`phase 0 exported at step ${exported.step}: ${exported.out}`);

  // phase 1: a frozen language copy and a trainable latent copy, k = 2
  const phase1 = path.join(root, 'two-trunk-k2');
  const config = train.resolveSftConfig({
    model: exported.out,
    data: task.data,
    out: phase1,
    mode: 'two-trunk',
    latents: 2,
    ...budget,
    steps: FAST ? 4 : 300,
    lr: 1e-3,
  });
  console.log(`warm-up: ${config.warmupSteps} of ${config.steps} steps`);
  await train.trainSft(config);

  const d = await train.evaluateSftRun(phase1, {
    examples: FAST ? 6 : 100,
    generate: FAST ? 2 : 50,
    inspect: FAST ? 2 : 10,
    maxNewTokens: FAST ? 24 : 120,
    constantSteps: FAST ? 2 : 50,
  });
  console.log(train.formatDiagnostics(d));
  // two-trunk's matched no-span reference is its frozen base, so the verdict needs no other run
  if (d.study) console.log(`verdict: ${d.study.verdict} (${d.study.reasons.join('; ')})`);
  if (d.study?.helps)
    console.log(
      `helps: ${latent.excludesZeroAbove(d.study.helps) ? 'yes' : 'not shown'} (frozen base minus run, result tokens, ${d.study.helps.delta.toFixed(4)})`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
