// `latent logits`: logits and final hidden states of token sequences, one JSON line per sequence:
//   {"ids": [...], "logits": [[vocab floats] per position], "hidden": [[hidden_size floats] per position]}
// (hidden = last hidden state after the final norm). The format is stable: tests and scripts parse it.
//
// With latent spans (--spans, a run, or --latent-input), each line is instead
//   {"ids": [...], "spans": [[POS, K], ...], "sequence": [ids run, -1 at latents], "kinds": ["token" | "bot" | "latent" | "eot", ...],
//    "logits": [...], "hidden": [...], "inputs": [null at tokens, else the input embedding], "latentInput": {...}}
// for every position of the sequence run: the tokens with `<bot>`, K latents and `<eot>` after token POS.
import type { CommandModule } from 'yargs';

interface Args {
  model?: string;
  run?: string;
  ids: string;
  spans?: string;
  latentInput?: string;
  latentTemperature?: number;
  mode?: 'full' | 'two-trunk';
  coupling?: 'shared-kv' | 'reencode';
  seed: number;
  dtype: 'float32' | 'float64' | 'bfloat16';
  device: string;
}

/** Parses "1,2,3;4,5" into [[1, 2, 3], [4, 5]]. */
export function parseIdLists(text: string): number[][] {
  const sequences = text.split(';').map((s) => s.trim());
  return sequences.map((seq, i) => {
    if (seq === '')
      throw new Error(`--ids: sequence ${i + 1} is empty (expected comma-separated token ids, sequences separated by ";")`);
    return seq.split(',').map((tok, j) => {
      const id = Number(tok.trim());
      if (tok.trim() === '' || !Number.isInteger(id) || id < 0)
        throw new Error(`--ids: sequence ${i + 1}, token ${j + 1} is ${JSON.stringify(tok)}, not a token id`);
      return id;
    });
  });
}

export const command: CommandModule<object, Args> = {
  command: 'logits',
  describe: 'print logits and final hidden states of token id sequences as JSON lines',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'model directory or Hugging Face id' })
      .option('run', {
        type: 'string',
        describe: 'a phase-1 run directory: its model at the latest checkpoint, with its latent input form and coupling',
      })
      .option('ids', { type: 'string', demandOption: true, describe: 'token ids: "1,2,3;4,5" (sequences separated by ";")' })
      .option('spans', {
        type: 'string',
        describe:
          'insert <bot>, K latents, <eot> after token position POS: "POS:K[,POS:K…]" (one list for every sequence, or one per sequence separated by ";")',
      })
      .option('latent-input', {
        type: 'string',
        describe: 'with --model: the latent input form (raw, scaled, affine, gated, soft, pause), freshly initialised (--seed)',
      })
      .option('latent-temperature', {
        type: 'number',
        describe: 'with --model: temperature of the soft and gated forms (default 1)',
      })
      .option('mode', {
        choices: ['full', 'two-trunk'] as const,
        describe: 'with --model: one trunk, or a copy for latent positions (default full)',
      })
      .option('coupling', {
        choices: ['shared-kv', 'reencode'] as const,
        describe: 'with --model --mode two-trunk: the coupling (default shared-kv)',
      })
      .option('seed', { type: 'number', default: 0, describe: 'with --model: seed of the latent heads’ initialisation' })
      .option('dtype', {
        choices: ['float32', 'float64', 'bfloat16'] as const,
        default: 'float32' as const,
        describe: 'compute dtype (--model; a run computes in its own)',
      })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu or cuda[:N]' }),
  handler: async (args) => {
    const sequences = parseIdLists(args.ids);
    if ((args.model === undefined) === (args.run === undefined)) throw new Error('give exactly one of --model and --run');
    if (args.run !== undefined || args.spans !== undefined || args.latentInput !== undefined) return latentLines(args, sequences);
    if (args.mode !== undefined || args.coupling !== undefined || args.latentTemperature !== undefined)
      throw new Error('--mode, --coupling and --latent-temperature apply to latent spans (--spans or --latent-input)');
    const torch = await import('../../torch');
    const { fromPretrained } = await import('../../models/qwen2/loading');
    const { model, config } = await fromPretrained(args.model!, { dtype: args.dtype, device: args.device, tokenizer: false });
    for (const [i, ids] of sequences.entries()) {
      const bad = ids.find((id) => id >= config.vocabSize);
      if (bad !== undefined)
        throw new Error(`--ids: sequence ${i + 1} has token ${bad}, outside the vocabulary (vocab_size ${config.vocabSize})`);
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

/** The latent-span form of the command: a fresh LatentModel on --model, or a run's. */
async function latentLines(args: Args, sequences: number[][]): Promise<void> {
  const torch = await import('../../torch');
  const { latentLogits, parseSpans } = await import('../../latent/logits');
  const spans = parseSpans(args.spans ?? '', sequences.length);
  let lm: import('../../latent/model').LatentModel;
  if (args.run !== undefined) {
    for (const [flag, v] of [
      ['--latent-input', args.latentInput],
      ['--latent-temperature', args.latentTemperature],
      ['--mode', args.mode],
      ['--coupling', args.coupling],
    ] as const)
      if (v !== undefined)
        throw new Error(`${flag} does not apply to --run: a run computes with its own form, mode and coupling (config.json)`);
    const { loadSftRun } = await import('../../train/sft');
    const run = await loadSftRun(args.run);
    lm = run.lm;
  } else {
    const { fromPretrained } = await import('../../models/qwen2/loading');
    const { LatentModel } = await import('../../latent/model');
    const { latentInputSpec } = await import('../../train/sft');
    const { isLatentInputKind, LATENT_INPUT_KINDS } = await import('../../latent/latent-input');
    const kind = args.latentInput ?? 'affine';
    if (!isLatentInputKind(kind))
      throw new Error(`--latent-input must be one of ${LATENT_INPUT_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    const pre = await fromPretrained(args.model!, { dtype: args.dtype, device: args.device });
    if (!pre.tokenizer)
      throw new Error(`${args.model}: no tokenizer.json; latent spans need the model's tokenizer (for <bot>/<eot>)`);
    torch.manualSeed(args.seed);
    const maxLatents = Math.max(1, ...spans.flat().map((s) => s.count));
    lm = LatentModel.create(pre.model, pre.tokenizer, {
      mode: args.mode ?? 'full',
      coupling: args.coupling ?? 'shared-kv',
      latentInput: latentInputSpec({
        latentInput: kind,
        latentTemperature: args.latentTemperature ?? 1,
        latents: maxLatents,
        maxLatents,
      }),
    });
  }
  try {
    lm.train(false);
    const latentInput = lm.heads.input.spec();
    sequences.forEach((ids, i) => {
      const out = latentLogits(lm, ids, spans[i]);
      const line = {
        ids,
        spans: spans[i].map((s) => [s.after, s.count]),
        sequence: out.ids,
        kinds: out.kinds,
        logits: out.logits,
        hidden: out.hidden,
        inputs: out.inputs,
        latentInput,
        mode: lm.mode,
        coupling: lm.coupling,
      };
      process.stdout.write(JSON.stringify(line) + '\n');
    });
  } finally {
    lm.dispose();
  }
}
