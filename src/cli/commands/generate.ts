// `latent generate`: continues one or more prompts with a Qwen2 model, streaming the text of a single
// prompt as it is produced.
import type { CommandModule } from 'yargs';

interface Args {
  model?: string;
  run?: string;
  'max-latents': number;
  latents: boolean;
  decode: boolean;
  prompt: string[];
  'max-new-tokens': number;
  temperature: number;
  'top-k': number;
  'top-p': number;
  seed?: number;
  stop: string[];
  dtype?: 'float32' | 'bfloat16' | 'float64' | 'float16';
  device: string;
}

export const command: CommandModule<object, Args> = {
  command: 'generate',
  describe: 'generate text with a Qwen2 model (greedy unless --temperature > 0), or with a latent run (--run): spans marked',
  builder: (y) =>
    y
      .option('model', {
        type: 'string',
        describe: 'model directory or Hugging Face id (e.g. Qwen/Qwen2-0.5B)',
        defaultDescription: 'none (or --run)',
      })
      .option('run', {
        type: 'string',
        describe: 'a latent training run directory: generate with latent spans (greedy), each marked',
        defaultDescription: 'none',
      })
      .option('max-latents', { type: 'number', default: 8, describe: 'with --run: cap on latents per span' })
      .option('latents', { type: 'boolean', default: true, describe: 'with --run: --no-latents generates without opening spans' })
      .option('decode', { type: 'boolean', default: false, describe: "with --run: show what each span's latents decode to" })
      .check((a) => {
        if (!a.model === !a.run) throw new Error('give exactly one of --model and --run');
        return true;
      })
      .option('prompt', { type: 'string', array: true, demandOption: true, describe: 'prompt text (repeat for a batch)' })
      .option('max-new-tokens', { type: 'number', default: 128 })
      .option('temperature', { type: 'number', default: 0, describe: '0 = greedy' })
      .option('top-k', { type: 'number', default: 0, describe: '0 = off' })
      .option('top-p', { type: 'number', default: 1, describe: '1 = off' })
      .option('seed', { type: 'number', describe: 'random seed for sampling', defaultDescription: 'none' })
      .option('stop', { type: 'string', array: true, default: [] as string[], describe: 'stop strings' })
      .option('dtype', {
        choices: ['float32', 'bfloat16', 'float64', 'float16'] as const,
        describe: "compute dtype (default: the checkpoint's)",
      })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu or cuda[:N]' }),
  handler: async (args) => {
    if (args.run) return generateWithRun(args);
    const { fromPretrained } = await import('../../models/qwen2/loading');
    const { generate } = await import('../../models/qwen2/generate');
    const { model, tokenizer, generation, dir } = await fromPretrained(args.model!, { dtype: args.dtype, device: args.device });
    if (!tokenizer) throw new Error(`${dir} has no tokenizer.json: text prompts need one`);
    model.eval();
    const prompts = args.prompt.map((p) => tokenizer.encode(p));
    const single = prompts.length === 1;
    const results = generate(model, prompts, {
      maxNewTokens: args['max-new-tokens'],
      temperature: args.temperature,
      topK: args['top-k'],
      topP: args['top-p'],
      seed: args.seed,
      stopStrings: args.stop,
      eosTokenIds:
        generation.eosTokenIds.length || tokenizer.eosTokenId === undefined ? generation.eosTokenIds : [tokenizer.eosTokenId],
      padTokenId: generation.padTokenId ?? undefined,
      tokenizer,
      onToken: single ? (e) => void (e.text && process.stdout.write(e.text)) : undefined,
    });
    if (single) process.stdout.write('\n');
    else results.forEach((r, i) => console.log(`[${i}] ${args.prompt[i]}${r.text}`));
    model.dispose();
  },
};

/** `--run`: greedy generation with latent spans, printed with each span marked as ⟨k latents⟩. */
async function generateWithRun(args: Args): Promise<void> {
  const { loadSftRun } = await import('../../train/sft');
  const { generateWithLatents } = await import('../../latent/generate');
  const { nearestTokens, logitLens } = await import('../../latent/diagnostics');
  const torch = await import('../../torch');
  const run = await loadSftRun(args.run!);
  const lm = run.lm;
  try {
    lm.train(false);
    for (const prompt of args.prompt) {
      const g = generateWithLatents(lm, prompt, {
        maxNewTokens: args['max-new-tokens'],
        maxLatents: args['max-latents'],
        useLatents: args.latents,
        stopStrings: args.stop,
        keepLatents: args.decode,
      });
      console.log(`${prompt}${g.markedText}`);
      if (args.decode) {
        const decode = (id: number) => lm.tokenizer.decodeToken(id);
        g.spans.forEach((span, i) => {
          if (!span.embeds?.length) return;
          const rows = torch.scope(() => {
            const e = torch.stack(span.embeds!);
            const h = torch.stack(span.hiddens!);
            return {
              near: nearestTokens(e, lm.model.model.embed_tokens.weight, 3, decode),
              lens: logitLens(h, (x) => lm.backbone.lmHead(x), 3, decode),
            };
          });
          console.log(`span ${i} (before token ${span.at}, ${span.latents} latents):`);
          rows.near.forEach((n, j) =>
            console.log(
              `  latent ${j}: nearest ${n.map((d) => JSON.stringify(d.token)).join(' ')} | logit lens ${rows.lens[j].map((d) => `${JSON.stringify(d.token)} ${d.score.toFixed(2)}`).join(' ')}`,
            ),
          );
        });
      }
      for (const s of g.spans) for (const t of [...(s.embeds ?? []), ...(s.hiddens ?? [])]) t.dispose();
    }
  } finally {
    lm.dispose();
  }
}
