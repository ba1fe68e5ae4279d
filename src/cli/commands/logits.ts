// `latent logits`: logits and final hidden states of token sequences, one JSON line per sequence:
//   {"ids": [...], "logits": [[vocab floats] per position], "hidden": [[hidden_size floats] per position]}
// (hidden = last hidden state after the final norm). The format is stable: tests and scripts parse it.
import type { CommandModule } from 'yargs';

interface Args {
  model: string;
  ids: string;
  dtype: 'float32' | 'float64' | 'bfloat16';
  device: string;
}

/** Parses "1,2,3;4,5" into [[1, 2, 3], [4, 5]]. */
export function parseIdLists(text: string): number[][] {
  const sequences = text.split(';').map((s) => s.trim());
  return sequences.map((seq, i) => {
    if (seq === '') throw new Error(`--ids: sequence ${i + 1} is empty (expected comma-separated token ids, sequences separated by ";")`);
    return seq.split(',').map((tok, j) => {
      const id = Number(tok.trim());
      if (tok.trim() === '' || !Number.isInteger(id) || id < 0) throw new Error(`--ids: sequence ${i + 1}, token ${j + 1} is ${JSON.stringify(tok)}, not a token id`);
      return id;
    });
  });
}

export const command: CommandModule<object, Args> = {
  command: 'logits',
  describe: 'print logits and final hidden states of token id sequences as JSON lines',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model directory or Hugging Face id' })
      .option('ids', { type: 'string', demandOption: true, describe: 'token ids: "1,2,3;4,5" (sequences separated by ";")' })
      .option('dtype', { choices: ['float32', 'float64', 'bfloat16'] as const, default: 'float32' as const, describe: 'compute dtype' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu or cuda[:N]' }),
  handler: async (args) => {
    const sequences = parseIdLists(args.ids);
    const torch = await import('../../torch');
    const { fromPretrained } = await import('../../models/qwen2/loading');
    const { model, config } = await fromPretrained(args.model, { dtype: args.dtype, device: args.device, tokenizer: false });
    for (const [i, ids] of sequences.entries()) {
      const bad = ids.find((id) => id >= config.vocabSize);
      if (bad !== undefined) throw new Error(`--ids: sequence ${i + 1} has token ${bad}, outside the vocabulary (vocab_size ${config.vocabSize})`);
    }
    model.eval();
    for (const ids of sequences) {
      const line = torch.inferenceMode(() =>
        torch.scope(() => {
          const out = model.forward({ inputIds: torch.tensor([ids], { dtype: 'int64', device: args.device }) });
          const rows = (t: import('../../torch').Tensor) => t.select(0, 0).to('float64').tolist() as number[][];
          return JSON.stringify({ ids, logits: rows(out.logits), hidden: rows(out.lastHidden) });
        }),
      );
      process.stdout.write(line + '\n');
    }
    model.dispose();
  },
};
