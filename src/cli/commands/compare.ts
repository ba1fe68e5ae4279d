// `latent compare --variants …`: latent interfaces trained under one budget, evaluated with the study's
// endpoints, and reported side by side (OUT/compare.json, OUT/compare.html).
import type { Argv, CommandModule } from 'yargs';
import { configFromFlags, readConfigFile } from '../config-file';
import { checkDataDir, checkModelArg, shownDefault } from '../options';
import { SFT_DEFAULTS } from '../../train/sft-defaults';

const D = SFT_DEFAULTS;
const d = shownDefault;

/** Config-file keys that are each variant's own, not the budget's. */
const INTERFACE_KEYS = ['mode', 'latents', 'markersAtZero', 'latentInput', 'coupling', 'freezeMarkers', 'latentSchedule'];

export const command: CommandModule = {
  command: 'compare',
  describe:
    'train several latent interfaces (forms, couplings, k, controls) under one budget and report their endpoints side by side',
  builder: (y: Argv) =>
    y
      .option('variants', {
        type: 'string',
        describe:
          'comma-separated [NAME=]parts, parts joined by ":": full|two-trunk, an input form (affine, raw, scaled, gated, soft, pause, planted-result, zeros), shared-kv|reencode, kN, fixed|digits|operations, markers, freeze-markers; the k=0 reference is always added',
        defaultDescription: 'from --config',
      })
      .option('config', {
        type: 'string',
        describe:
          'JSON sweep file: {"model", "data", "out", "variants": [spec or {name, mode, latentInput, coupling, latents, …}], "evaluation": {…}, and any train sft option (budget)}',
      })
      .option('model', {
        type: 'string',
        describe: 'base model directory (every variant starts from it)',
        defaultDescription: 'required',
      })
      .option('data', { type: 'string', describe: 'directory with train.jsonl and test.jsonl', defaultDescription: 'required' })
      .option('out', {
        type: 'string',
        describe: 'comparison directory: one run directory per variant, compare.json, compare.html',
        defaultDescription: 'required',
      })
      .group(['variants', 'config', 'model', 'data', 'out'], 'Comparison:')
      .option('steps', { type: 'number', describe: 'optimizer steps of every run', defaultDescription: d(D.steps) })
      .option('batch', { type: 'number', describe: 'examples per step', defaultDescription: d(D.batchSize) })
      .option('lr', { type: 'number', describe: 'peak learning rate', defaultDescription: d(D.lr) })
      .option('min-lr', { type: 'number', describe: 'floor of the cosine decay', defaultDescription: d(D.minLr) })
      .option('warmup', { type: 'number', describe: 'warm-up steps', defaultDescription: `${D.warmupRatio} × --steps` })
      .option('seed', { type: 'number', defaultDescription: d(D.seed) })
      .option('max-latents', {
        type: 'number',
        describe: 'cap on latents per span at inference',
        defaultDescription: d(D.maxLatents),
      })
      .option('latent-temperature', {
        type: 'number',
        describe: 'soft and gated forms',
        defaultDescription: d(D.latentTemperature),
      })
      .option('head-lr', {
        type: 'number',
        describe: 'learning rate of the start and end classifiers',
        defaultDescription: '--lr',
      })
      .option('start-fit-examples', {
        type: 'number',
        describe: 'post-training start-classifier fit',
        defaultDescription: d(D.startFitExamples),
      })
      .option('max-train-examples', {
        type: 'number',
        describe: 'use only the first N training examples',
        defaultDescription: 'all',
      })
      .option('validation-size', { type: 'number', defaultDescription: d(D.validationSize) })
      .option('eval-every', { type: 'number', defaultDescription: d(D.evalEvery) })
      .option('eval-examples', {
        type: 'number',
        describe: 'examples per periodic evaluation',
        defaultDescription: d(D.evalExamples),
      })
      .option('save-every', { type: 'number', defaultDescription: d(D.saveEvery) })
      .option('device', { type: 'string', describe: 'cpu | cuda | cuda:N', defaultDescription: d(D.device) })
      .option('dtype', { choices: ['float32', 'bfloat16', 'float64'] as const, defaultDescription: 'the checkpoint’s' })
      .option('threads', {
        type: 'number',
        describe: 'CPU threads for tensor operations (small models on a busy machine run fastest on 1)',
        defaultDescription: 'libtorch’s default',
      })
      .group(
        [
          'steps',
          'batch',
          'lr',
          'min-lr',
          'warmup',
          'seed',
          'max-latents',
          'latent-temperature',
          'head-lr',
          'start-fit-examples',
          'max-train-examples',
          'validation-size',
          'eval-every',
          'eval-examples',
          'save-every',
          'device',
          'dtype',
          'threads',
        ],
        'Budget (the same for every variant):',
      )
      .option('examples', { type: 'number', describe: 'test examples for losses and ablations', defaultDescription: '200' })
      .option('generate', { type: 'number', describe: 'test questions for answer accuracy (0: skip)', defaultDescription: '50' })
      .option('inspect', { type: 'number', describe: 'examples whose latents are decoded', defaultDescription: '20' })
      .option('max-new-tokens', { type: 'number', defaultDescription: '200' })
      .option('constant-steps', {
        type: 'number',
        describe: 'steps fitting the learned-constant ablation',
        defaultDescription: '50',
      })
      .option('oracle', {
        type: 'boolean',
        describe: 'also answer with spans at the gold breakpoints',
        defaultDescription: 'true',
      })
      .option('ablate-generation', { type: 'boolean', describe: 'also answer with oracle spans fed shuffled/constant latents' })
      .option('json', { type: 'boolean', default: false, describe: 'print compare.json instead of the table' })
      .group(
        ['examples', 'generate', 'inspect', 'max-new-tokens', 'constant-steps', 'oracle', 'ablate-generation', 'json'],
        'Evaluation:',
      )
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
    const { model, data, out, variants: fileVariants, evaluation: fileEvaluation, ...fileBudget } = file;
    for (const k of Object.keys(fileBudget))
      if (INTERFACE_KEYS.includes(k))
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
    const pick = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const budget = {
      ...(fileBudget as Record<string, unknown>),
      ...pick({ model: a.model ?? model, data: a.data ?? data }),
      // compare's flags are the budget's: the variant's own fields (mode, form, k, …) have none here
      ...configFromFlags(a),
    };
    const target = (a.out ?? out) as string | undefined;
    for (const [k, v] of [
      ['model', budget.model],
      ['data', budget.data],
      ['out', target],
    ] as const)
      if (!v) throw new compare.CompareError(`--${k} is required (or "${k}" in --config)`);
    checkModelArg('--model', String(budget.model));
    checkDataDir('--data', String(budget.data));
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
