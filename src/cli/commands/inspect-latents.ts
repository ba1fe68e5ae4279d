// `latent inspect-latents RUNDIR`: what each latent decodes to (nearest token embeddings, logit lens).
import type { Argv, CommandModule } from 'yargs';

export const command: CommandModule = {
  command: 'inspect-latents <run>',
  describe: 'decode the latents of test examples to nearest tokens (cosine) and logit-lens tokens',
  builder: (y: Argv) =>
    y
      .positional('run', { type: 'string', describe: 'run directory' })
      .option('examples', { type: 'number', default: 5 })
      .option('top-k', { type: 'number', default: 5 })
      .option('json', { type: 'boolean', default: false }),
  handler: async (a: Record<string, unknown>) => {
    const { loadSftRun } = await import('../../train/sft');
    const { inspectLatents } = await import('../../latent/evaluate');
    const { RunDir } = await import('../../train/run-dir');
    const run = await loadSftRun(String(a.run));
    try {
      run.lm.train(false);
      const seqs = run.data.test.slice(0, a.examples as number).map((e) => run.data.sequence(e));
      const r = inspectLatents(run.lm, seqs, { topK: a.topK as number });
      RunDir.open(String(a.run)).writeJson('latents.json', r);
      if (a.json) return console.log(JSON.stringify(r));
      let last = '';
      for (const d of r.decoded) {
        const head = `example ${d.example} span ${d.span} (${d.expression} = ${d.result})`;
        if (head !== last) console.log(head);
        last = head;
        const fmt = (xs: { token: string }[], score: (x: never) => number) =>
          xs.map((x) => `${JSON.stringify(x.token)} ${score(x as never).toFixed(2)}`).join('  ');
        console.log(`  latent ${d.step}: |e|=${d.embedNorm.toFixed(2)} stop p=${d.stopProb.toFixed(2)}`);
        console.log(`    nearest:    ${fmt(d.nearest, (x: { cosine: number }) => x.cosine)}`);
        console.log(`    logit lens: ${fmt(d.logitLens, (x: { prob: number }) => x.prob)}`);
      }
      console.log(`recurring: ${r.recurring.map((x) => `${JSON.stringify(x.token)}×${x.count}`).join(' ')}`);
      console.log(`result digit among decoded tokens: ${(100 * r.resultHitRate).toFixed(1)}%`);
    } finally {
      run.lm.dispose();
    }
  },
};
