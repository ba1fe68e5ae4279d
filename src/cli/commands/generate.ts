// `latent generate`: continues one or more prompts with a Qwen2 model, streaming the text of a single
// prompt as it is produced.
import type { CommandModule } from 'yargs';

interface Args {
  model: string;
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
  describe: 'generate text with a Qwen2 model (greedy unless --temperature > 0)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model directory or Hugging Face id (e.g. Qwen/Qwen2-0.5B)' })
      .option('prompt', { type: 'string', array: true, demandOption: true, describe: 'prompt text (repeat for a batch)' })
      .option('max-new-tokens', { type: 'number', default: 128 })
      .option('temperature', { type: 'number', default: 0, describe: '0 = greedy' })
      .option('top-k', { type: 'number', default: 0, describe: '0 = off' })
      .option('top-p', { type: 'number', default: 1, describe: '1 = off' })
      .option('seed', { type: 'number', describe: 'random seed for sampling' })
      .option('stop', { type: 'string', array: true, default: [] as string[], describe: 'stop strings' })
      .option('dtype', { choices: ['float32', 'bfloat16', 'float64', 'float16'] as const, describe: "compute dtype (default: the checkpoint's)" })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu or cuda[:N]' }),
  handler: async (args) => {
    const { fromPretrained } = await import('../../models/qwen2/loading');
    const { generate } = await import('../../models/qwen2/generate');
    const { model, tokenizer, generation, dir } = await fromPretrained(args.model, { dtype: args.dtype, device: args.device });
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
      eosTokenIds: generation.eosTokenIds.length || tokenizer.eosTokenId === undefined ? generation.eosTokenIds : [tokenizer.eosTokenId],
      padTokenId: generation.padTokenId ?? undefined,
      tokenizer,
      onToken: single ? (e) => void (e.text && process.stdout.write(e.text)) : undefined,
    });
    if (single) process.stdout.write('\n');
    else results.forEach((r, i) => console.log(`[${i}] ${args.prompt[i]}${r.text}`));
    model.dispose();
  },
};
