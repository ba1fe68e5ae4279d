// A short GRPO stage (phase 2) from a phase-1 run: rollouts that open, fill and close latent spans,
// rewarded only for the answer, then the RL run's evaluation (greedy accuracy with and without latents).
// Run: npx ts-node examples/grpo-stage.ts [PHASE1_RUN]   (without a run, a short phase-1 run is trained first)
import * as path from 'path';
import { rl, train } from 'latent-tokens';
import { FAST, arithmeticSetup, exampleDir } from './arith-setup';

async function main(): Promise<void> {
  const root = exampleDir('grpo');
  let from = process.argv[2];
  let dataDir: string;
  if (from) {
    dataDir = (await train.loadSftRun(from).then((r) => (r.lm.dispose(), r.config))).data;
  } else {
    const task = arithmeticSetup(root);
    dataDir = task.data;
    from = path.join(root, 'phase1');
    await train.trainSft(
      train.resolveSftConfig({
        model: task.model,
        data: task.data,
        out: from,
        mode: 'full',
        latents: 2,
        steps: FAST ? 4 : 300,
        batchSize: FAST ? 4 : 16,
        lr: 3e-3,
        evalExamples: 4,
        validationSize: 4,
      }),
    );
  }
  const config = rl.resolveRlConfig({
    from,
    data: dataDir,
    out: path.join(root, 'rl'),
    steps: FAST ? 2 : 40,
    group: FAST ? 2 : 8,
    questionsPerStep: FAST ? 2 : 4,
    maxNewTokens: FAST ? 16 : 96,
    lr: 1e-4,
    evalEvery: FAST ? 2 : 20,
    evalExamples: FAST ? 2 : 20,
    saveEvery: FAST ? 2 : 20,
  });
  const summary = await rl.trainRl(config);
  console.log(
    `GRPO: ${summary.steps} steps, mean reward of the last step ${summary.finalReward.toFixed(3)} (${summary.stopped})`,
  );
  const d = await rl.evaluateRlRun(summary.out, { examples: FAST ? 2 : 50, passK: 0, maxNewTokens: FAST ? 16 : 96 });
  console.log(rl.formatRlDiagnostics(d));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
