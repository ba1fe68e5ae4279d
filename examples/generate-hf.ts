// Load a Hugging Face-format checkpoint, add the latent heads, and generate with latent spans marked.
// Run: npx ts-node examples/generate-hf.ts [MODEL]   (MODEL: a local HF directory or a hub id such as
// Qwen/Qwen2-0.5B; without one, a small random checkpoint is written first)
//
// The heads of a fresh LatentModel are untrained: the start probability sits near its prior (0.05), so
// the example opens spans at that threshold (START_THRESHOLD overrides it). A run trained with
// `latent train sft` has a calibrated threshold (`latent generate --run RUN`).
import { data, latent, models, torch } from 'latent-tokens';
import { FAST, arithmeticSetup, exampleDir } from './arith-setup';

async function main(): Promise<void> {
  const dir = process.argv[2] ?? arithmeticSetup(exampleDir('generate-hf')).model;
  const pre = await models.qwen2.fromPretrained(dir); // config.json, safetensors (sharded or not), tokenizer.json
  if (!pre.tokenizer) throw new Error(`${dir}: no tokenizer.json`);
  console.log(
    `${pre.dir}: ${pre.config.numHiddenLayers} layers, hidden ${pre.config.hiddenSize}, vocabulary ${pre.config.vocabSize}`,
  );
  const lm = latent.LatentModel.create(pre.model, pre.tokenizer, { mode: 'full' }); // adds <bot>/<eot> and the heads
  try {
    lm.train(false);
    const prompt = data.formatPrompt('Tom has 3 bags with 4 apples each. He eats 2 apples. How many apples are left?');
    const startThreshold = Number(process.env.START_THRESHOLD ?? 0.05);
    const g = torch.scope(() =>
      latent.generateWithLatents(lm, prompt, { maxNewTokens: FAST ? 16 : 64, maxLatents: 3, startThreshold }),
    );
    console.log(
      `start threshold ${startThreshold}; ${g.spans.length} span(s): ${g.spans.map((s) => `${s.latents} latents before token ${s.at}`).join(', ') || 'none'}`,
    );
    console.log(g.markedText); // the continuation, with ⟨k latents⟩ where a span was used
  } finally {
    lm.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
