// `latent compare --variants …`: latent interfaces trained under one budget, evaluated with the study's
// endpoints, and reported side by side (OUT/compare.json, OUT/compare.html).
import type { Argv, CommandModule } from 'yargs';
import { readConfigFile } from '../config-file';
import { addOptionGroups, checkDataDir, checkModelArg } from '../options';
import { sftConfigFromFlags, sftOptions } from '../sft-options';

export const command: CommandModule = {
  command: 'compare',
  describe:
    'train several latent interfaces (forms, couplings, k, controls) under one budget and report their endpoints side by side',
  builder: (y: Argv) =>
    addOptionGroups(y, {
      'Comparison:': {
        variants: {
          type: 'string',
          describe:
            'comma-separated [NAME=]parts, parts joined by ":": full|two-trunk, an input form (affine, raw, scaled, gated, soft, pause, planted-result, zeros), shared-kv|reencode, kN, fixed|digits|operations, markers, freeze-markers; the k=0 reference is always added',
          defaultDescription: 'from --config',
        },
        config: {
          type: 'string',
          describe:
            'JSON sweep file: {"model", "data", "out", "variants": [spec or {name, mode, latentInput, coupling, latents, …}], "evaluation": {…}, and any train sft option (budget)}',
        },
        ...sftOptions({
          model: 'base model directory (every variant starts from it)',
          data: 'directory with train.jsonl and test.jsonl',
        }),
        out: {
          type: 'string',
          describe: 'comparison directory: one run directory per variant, compare.json, compare.html',
          defaultDescription: 'required',
        },
      },
      'Budget (the same for every variant):': {
        ...sftOptions({
          steps: 'optimizer steps of every run',
          batchSize: 'examples per step',
          lr: 'peak learning rate',
          minLr: 'floor of the cosine decay',
          warmupSteps: 'warm-up steps',
          seed: undefined,
          maxLatents: 'cap on latents per span at inference',
          latentTemperature: 'soft and gated forms',
          headLr: 'learning rate of the start and end classifiers',
          startFitExamples: 'post-training start-classifier fit',
          maxTrainExamples: 'use only the first N training examples',
          validationSize: undefined,
          evalEvery: undefined,
          evalExamples: 'examples per periodic evaluation',
          saveEvery: undefined,
          device: 'cpu | cuda | cuda:N',
          dtype: undefined,
        }),
        threads: {
          type: 'number',
          describe: 'CPU threads for tensor operations (small models on a busy machine run fastest on 1)',
          defaultDescription: 'libtorch’s default',
        },
      },
      'Evaluation:': {
        examples: { type: 'number', describe: 'test examples for losses and ablations', defaultDescription: '200' },
        generate: { type: 'number', describe: 'test questions for answer accuracy (0: skip)', defaultDescription: '50' },
        inspect: { type: 'number', describe: 'examples whose latents are decoded', defaultDescription: '20' },
        'max-new-tokens': { type: 'number', defaultDescription: '200' },
        'constant-steps': { type: 'number', describe: 'steps fitting the learned-constant ablation', defaultDescription: '50' },
        oracle: { type: 'boolean', describe: 'also answer with spans at the gold breakpoints', defaultDescription: 'true' },
        'ablate-generation': { type: 'boolean', describe: 'also answer with oracle spans fed shuffled/constant latents' },
        json: { type: 'boolean', default: false, describe: 'print compare.json instead of the table' },
      },
    })
      .example(
        '$0 compare --model runs/phase0-model --data data --out cmp --steps 150 --variants two-trunk:raw:k2,two-trunk:affine:k2,two-trunk:gated:k2',
        'three input forms under one budget (and the k=0 reference)',
      )
      .example(
        '$0 compare --model m --data data --out cmp --variants full:pause:k2,full:affine:k2,two-trunk:affine:reencode:k2',
        'pause-as-thought beside latents, and a re-encoding two-trunk run',
      ),
  handler: async (a: Record<string, unknown>) => {
    const compare = await import('../../train/compare');
    const file = readConfigFile(a.config as string | undefined);
    const { out, variants: fileVariants, evaluation: fileEvaluation, ...fileBudget } = file;
    for (const k of Object.keys(fileBudget))
      if ((compare.VARIANT_FIELDS as readonly string[]).includes(k))
        throw new compare.CompareError(
          `--config ${String(a.config)}: ${k} is a variant's own; give it in each variant, not for all`,
        );
    const variants =
      a.variants !== undefined
        ? compare.parseVariants(a.variants as string)
        : Array.isArray(fileVariants)
          ? fileVariants.map((v: unknown, i) =>
              typeof v === 'string'
                ? compare.parseVariant(v)
                : v && typeof v === 'object'
                  ? compare.variantFromObject(v as Record<string, unknown>, `--config variants[${i}]`)
                  : (() => {
                      throw new compare.CompareError(`--config variants[${i}]: expected a spec string or an object`);
                    })(),
            )
          : null;
    if (!variants?.length)
      throw new compare.CompareError('name the variants: --variants full:affine:k2,… or "variants" in --config');
    // compare's flags are the budget's (base model and data included): the variant's own fields (mode, form, k, …) have none here
    const budget = { ...fileBudget, ...sftConfigFromFlags(a) };
    const target = (a.out ?? out) as string | undefined;
    for (const [k, v] of [
      ['model', budget.model],
      ['data', budget.data],
      ['out', target],
    ] as const)
      if (!v) throw new compare.CompareError(`--${k} is required (or "${k}" in --config)`);
    checkModelArg('--model', String(budget.model));
    checkDataDir('--data', String(budget.data));
    const pick = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const evaluation = {
      ...(fileEvaluation && typeof fileEvaluation === 'object' ? (fileEvaluation as Record<string, unknown>) : {}),
      ...pick({
        examples: a.examples,
        generate: a.generate,
        inspect: a.inspect,
        maxNewTokens: a.maxNewTokens,
        constantSteps: a.constantSteps,
        oracle: a.oracle,
        ablateGeneration: a.ablateGeneration,
      }),
    };
    if (a.threads !== undefined) {
      if (!Number.isInteger(a.threads) || (a.threads as number) < 1)
        throw new compare.CompareError(`--threads must be a positive integer, got ${JSON.stringify(a.threads)}`);
      (await import('../../torch')).setNumThreads(a.threads as number);
    }
    let result;
    try {
      result = await compare.runComparison({ out: String(target), budget: budget as never, variants, evaluation });
    } catch (e) {
      if (e instanceof compare.CompareError && /was interrupted/.test(e.message)) process.exitCode = 130;
      throw e;
    }
    const { writeComparisonReport } = await import('../../report/compare');
    const report = await writeComparisonReport(result);
    for (const w of report.warnings) process.stderr.write(`latent compare: report: ${w}\n`);
    console.log(a.json ? JSON.stringify(result) : compare.formatComparison(result));
    process.stderr.write(`report: ${report.htmlPath}\n`);
  },
};
