// `latent make-model`: writes a random Qwen2 checkpoint in Hugging Face format.
import type { CommandModule } from 'yargs';

interface Args {
  layers: number;
  hidden: number;
  heads: number;
  'kv-heads'?: number;
  intermediate: number;
  vocab: number;
  'head-dim'?: number;
  out: string;
  tie: boolean;
  dtype: 'float32' | 'bfloat16' | 'float16' | 'float64';
  seed?: number;
  std: number;
  init: 'hf' | 'full';
  'rope-theta'?: number;
  tokenizer?: string;
  force?: boolean;
}

export const command: CommandModule<object, Args> = {
  command: 'make-model',
  describe: 'write a small random Qwen2 checkpoint (config.json, model.safetensors, generation_config.json)',
  builder: (y) =>
    y
      .option('layers', { type: 'number', demandOption: true, describe: 'num_hidden_layers' })
      .option('hidden', { type: 'number', demandOption: true, describe: 'hidden_size' })
      .option('heads', { type: 'number', demandOption: true, describe: 'num_attention_heads' })
      .option('kv-heads', { type: 'number', describe: 'num_key_value_heads (default: --heads)' })
      .option('intermediate', { type: 'number', demandOption: true, describe: 'intermediate_size of the MLP' })
      .option('vocab', { type: 'number', demandOption: true, describe: 'vocab_size' })
      .option('head-dim', { type: 'number', describe: 'head_dim (default: hidden / heads)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('tie', { type: 'boolean', default: false, describe: 'tie_word_embeddings (--tie true|false)' })
      .option('dtype', {
        choices: ['float32', 'bfloat16', 'float16', 'float64'] as const,
        default: 'float32' as const,
        describe: 'dtype of the saved weights',
      })
      .option('seed', { type: 'number', describe: 'random seed', defaultDescription: 'none (unseeded)' })
      .option('std', { type: 'number', default: 0.02, describe: 'standard deviation of the random weights' })
      .option('init', {
        choices: ['hf', 'full'] as const,
        default: 'hf' as const,
        describe: "hf: zero biases and unit norm gains (transformers' init); full: biases and gains random too",
      })
      .option('rope-theta', { type: 'number', describe: 'rope_theta', defaultDescription: '10000' })
      .option('tokenizer', {
        type: 'string',
        describe: 'copy the tokenizer of this model directory (sets bos/eos/pad ids)',
        defaultDescription: 'none',
      })
      .option('force', {
        type: 'boolean',
        describe: 'write into a non-empty --out that holds no model written by latent (its model files are replaced)',
        defaultDescription: 'false',
      }),
  handler: async (args) => {
    const { makeModel } = await import('../../models/qwen2/make-model');
    const config = makeModel(args.out, {
      layers: args.layers,
      hidden: args.hidden,
      heads: args.heads,
      kvHeads: args['kv-heads'],
      intermediate: args.intermediate,
      vocab: args.vocab,
      headDim: args['head-dim'],
      tie: args.tie,
      dtype: args.dtype,
      seed: args.seed,
      std: args.std,
      scheme: args.init,
      ropeTheta: args['rope-theta'],
      tokenizerDir: args.tokenizer,
      force: args.force,
    });
    const params =
      config.vocabSize * config.hiddenSize * (config.tieWordEmbeddings ? 1 : 2) +
      config.hiddenSize +
      config.numHiddenLayers *
        (2 * config.hiddenSize +
          config.hiddenSize * config.headDim * (config.numAttentionHeads * 2 + config.numKeyValueHeads * 2) +
          config.headDim * (config.numAttentionHeads + 2 * config.numKeyValueHeads) +
          3 * config.hiddenSize * config.intermediateSize);
    console.log(
      `wrote ${args.out}: Qwen2 with ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, ${params.toLocaleString('en-US')} parameters (${args.dtype})`,
    );
  },
};
