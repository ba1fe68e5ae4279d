// `latent compare`: several latent interfaces trained under one budget and read side by side.
//
// Every variant is an ordinary phase-1 run directory under OUT (same base model, data, steps, batch,
// learning rate and seed; only the interface differs: mode, input form, coupling, k, schedule,
// frozen markers), evaluated by `latent eval` with the study's endpoints. The k = 0 run is always
// part of the comparison: it is the matched no-span reference of every full-fine-tuning variant (a
// two-trunk variant's reference is its frozen base). A pause-as-thought variant is the "content
// beyond compute" control of the variants with its mode and k. OUT/compare.json holds the endpoints
// side by side; a variant whose run is complete (and whose evaluation used the same settings) is
// neither retrained nor re-evaluated, so an interrupted comparison continues where it stopped.
import * as fs from 'fs';
import * as path from 'path';
import { LATENT_INPUT_KINDS, type LatentInputKind } from '../latent/latent-input';
import { COUPLINGS, type Coupling } from '../latent/coupling';
import { LATENT_SCHEDULE_KINDS, type LatentScheduleKind } from '../latent/sequence';
import type { LatentMode } from '../latent/model';
import { endpointCells, endpointLegend, endpointText, ENDPOINT_HEADERS, type Endpoint, type StudyVerdict } from '../latent/study';
import { writeTextAtomic } from '../util/atomic-write';
import { textTable } from '../util/text-table';
import { latestCheckpoint, readCheckpointManifest } from './checkpoint';
import { RunDir } from './run-dir';
import { METRICS_FILE, type MetricLine } from './run-files';
import { evaluateSftRun, type SftDiagnostics, type SftEvalOptions } from './sft-eval';
import { resolveSftConfig, trainSft, type SftConfig } from './sft';

/** One variant: the interface of its run (everything else is the comparison's budget). */
export interface CompareVariant {
  /** the run directory's name under OUT (letters, digits, `.`, `_`, `-`) */
  name: string;
  mode: LatentMode;
  latentInput: LatentInputKind;
  coupling: Coupling;
  latents: number;
  /** k = 0 with `<bot><eot>` at every breakpoint (the markers-only control) */
  markersAtZero: boolean;
  freezeMarkers: boolean;
  latentSchedule: LatentScheduleKind;
}

/** The config fields that are a variant's own: its interface (every other field is the comparison's budget). */
export const VARIANT_FIELDS = [
  'mode',
  'latents',
  'markersAtZero',
  'latentInput',
  'coupling',
  'freezeMarkers',
  'latentSchedule',
] as const satisfies readonly (keyof CompareVariant & keyof SftConfig)[];

/** What a variant is in the comparison. */
export type CompareRole = 'reference' | 'pause' | 'markers' | 'variant';

export class CompareError extends Error {
  override name = 'CompareError';
}

const MODES: readonly LatentMode[] = ['full', 'two-trunk'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PARTS_HELP = `full|two-trunk, an input form (${LATENT_INPUT_KINDS.join('|')}), a coupling (${COUPLINGS.join('|')}), kN, a schedule (${LATENT_SCHEDULE_KINDS.join('|')}), markers, freeze-markers`;

/** The name of the k = 0 reference every comparison includes. */
export const REFERENCE_NAME = 'baseline-k0';

/** The directory-name form of a variant: its parts in a fixed order, defaults of input and coupling included. */
export function variantName(v: Omit<CompareVariant, 'name'>): string {
  if (isReference(v)) return REFERENCE_NAME;
  return [
    v.mode,
    v.latents > 0 || v.latentInput !== 'affine' ? v.latentInput : null,
    v.mode === 'two-trunk' ? v.coupling : null,
    `k${v.latents}`,
    v.markersAtZero ? 'markers' : null,
    v.freezeMarkers ? 'freeze-markers' : null,
    v.latentSchedule !== 'fixed' ? v.latentSchedule : null,
  ]
    .filter((p) => p !== null)
    .join('-');
}

const isReference = (v: Omit<CompareVariant, 'name'>) =>
  v.mode === 'full' && v.latents === 0 && !v.markersAtZero && !v.freezeMarkers && v.latentInput === 'affine';

/**
 * One variant from `[NAME=]part:part:…` (e.g. `full:affine:k2`, `tt=two-trunk:raw:reencode:k2`).
 * Parts in any order, each at most once: the mode (default full), the input form (default affine),
 * the coupling (two-trunk only; default shared-kv), kN (required), the schedule (default fixed),
 * `markers` (k = 0 only) and `freeze-markers`. Errors are one line naming the spec and the part.
 */
export function parseVariant(text: string): CompareVariant {
  const spec = text.trim();
  const fail = (why: string): never => {
    throw new CompareError(`variant ${JSON.stringify(spec)}: ${why}`);
  };
  const eq = spec.indexOf('=');
  const givenName = eq >= 0 ? spec.slice(0, eq).trim() : null;
  const body = eq >= 0 ? spec.slice(eq + 1) : spec;
  if (givenName !== null && !NAME.test(givenName))
    fail(`the name ${JSON.stringify(givenName)} must be letters, digits, '.', '_' or '-' (it names the run directory)`);
  const parts = body.split(':').map((p) => p.trim());
  if (!parts.length || parts.some((p) => p === '')) fail(`empty part; expected parts like full:affine:k2 (${PARTS_HELP})`);
  const seen: Record<string, string> = {};
  const once = (what: string, part: string) => {
    if (seen[what]) fail(`two ${what}s (${seen[what]} and ${part})`);
    seen[what] = part;
  };
  let mode: LatentMode = 'full';
  let latentInput: LatentInputKind = 'affine';
  let coupling: Coupling | null = null;
  let latents: number | null = null;
  let latentSchedule: LatentScheduleKind = 'fixed';
  let markersAtZero = false;
  let freezeMarkers = false;
  for (const part of parts) {
    if ((MODES as readonly string[]).includes(part)) {
      once('mode', part);
      mode = part as LatentMode;
    } else if ((LATENT_INPUT_KINDS as readonly string[]).includes(part)) {
      once('input form', part);
      latentInput = part as LatentInputKind;
    } else if ((COUPLINGS as readonly string[]).includes(part)) {
      once('coupling', part);
      coupling = part as Coupling;
    } else if ((LATENT_SCHEDULE_KINDS as readonly string[]).includes(part)) {
      once('schedule', part);
      latentSchedule = part as LatentScheduleKind;
    } else if (/^k\d+$/.test(part)) {
      once('latent count', part);
      latents = Number(part.slice(1));
      if (latents > 256) fail(`${part}: at most 256 latents per span`);
    } else if (part === 'markers') {
      once('markers part', part);
      markersAtZero = true;
    } else if (part === 'freeze-markers') {
      once('freeze-markers part', part);
      freezeMarkers = true;
    } else fail(`unknown part ${JSON.stringify(part)} (expected ${PARTS_HELP})`);
  }
  if (latents === null) fail('no latent count (add kN, e.g. k2; k0 is the no-span reference)');
  const k = latents!;
  if (coupling !== null && mode !== 'two-trunk') fail(`the coupling ${coupling} needs two-trunk`);
  if (markersAtZero && k !== 0) fail(`markers is the k = 0 control; it needs k0, got k${k}`);
  if (k === 0 && latentInput !== 'affine') fail(`k0 has no latents, so the input form ${latentInput} would do nothing`);
  if (k === 0 && mode === 'two-trunk') fail('two-trunk with k0 is its frozen base, the reference of every two-trunk variant');
  const v = { mode, latentInput, coupling: coupling ?? 'shared-kv', latents: k, markersAtZero, freezeMarkers, latentSchedule };
  return { name: givenName ?? variantName(v), ...v };
}

/** Comma-separated variants (see parseVariant). */
export function parseVariants(text: string): CompareVariant[] {
  const specs = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!specs.length)
    throw new CompareError(`--variants: no variant in ${JSON.stringify(text)} (e.g. full:affine:k2,two-trunk:raw:k2)`);
  return specs.map(parseVariant);
}

/** A variant given as an object (a sweep config file): the same fields as the spec's parts. */
export function variantFromObject(o: Record<string, unknown>, where: string): CompareVariant {
  const known: readonly string[] = ['name', ...VARIANT_FIELDS];
  for (const key of Object.keys(o))
    if (!known.includes(key))
      throw new CompareError(`${where}: unknown field ${JSON.stringify(key)} (known: ${known.join(', ')})`);
  const parts: string[] = [];
  const str = (key: string): string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new CompareError(`${where}: ${key} must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string): boolean => {
    const v = o[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw new CompareError(`${where}: ${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const key of ['mode', 'latentInput', 'coupling', 'latentSchedule']) {
    const v = str(key);
    if (v !== undefined) parts.push(v);
  }
  if (o.latents !== undefined) {
    if (typeof o.latents !== 'number' || !Number.isInteger(o.latents) || o.latents < 0)
      throw new CompareError(`${where}: latents must be a non-negative integer, got ${JSON.stringify(o.latents)}`);
    parts.push(`k${o.latents}`);
  }
  if (bool('markersAtZero')) parts.push('markers');
  if (bool('freezeMarkers')) parts.push('freeze-markers');
  const name = str('name');
  try {
    return parseVariant(`${name !== undefined ? `${name}=` : ''}${parts.join(':')}`);
  } catch (e) {
    throw new CompareError(`${where}: ${(e as Error).message}`);
  }
}

/**
 * The variants of a comparison in the order they run: the k = 0 reference first (added when not
 * given), then the controls (markers only, pause-as-thought), then the rest in the order given.
 * Names must be distinct, and two variants may not be the same interface under two names.
 */
export function planVariants(given: readonly CompareVariant[]): (CompareVariant & { role: CompareRole })[] {
  const names = new Map<string, CompareVariant>();
  const interfaces = new Map<string, string>();
  for (const v of given) {
    if (names.has(v.name)) throw new CompareError(`two variants are named ${v.name}; give one another name (NAME=spec)`);
    names.set(v.name, v);
    const { name: _name, ...iface } = v;
    void _name;
    const key = JSON.stringify(iface);
    if (interfaces.has(key)) throw new CompareError(`variants ${interfaces.get(key)} and ${v.name} are the same interface`);
    interfaces.set(key, v.name);
  }
  const roleOf = (v: CompareVariant): CompareRole =>
    isReference(v) ? 'reference' : v.markersAtZero ? 'markers' : v.latentInput === 'pause' ? 'pause' : 'variant';
  const withRole = given.map((v) => ({ ...v, role: roleOf(v) }));
  const references = withRole.filter((v) => v.role === 'reference');
  if (references.length > 1)
    throw new CompareError(`${references.map((v) => v.name).join(' and ')} are both the k = 0 reference`);
  if (references[0] && references[0].name !== REFERENCE_NAME && names.has(REFERENCE_NAME))
    throw new CompareError(`${REFERENCE_NAME} names a variant that is not the k = 0 reference; rename it`);
  const reference = references[0] ?? {
    name: REFERENCE_NAME,
    mode: 'full' as const,
    latentInput: 'affine' as const,
    coupling: 'shared-kv' as const,
    latents: 0,
    markersAtZero: false,
    freezeMarkers: false,
    latentSchedule: 'fixed' as const,
    role: 'reference' as const,
  };
  if (!references.length && names.has(REFERENCE_NAME))
    throw new CompareError(`${REFERENCE_NAME} is the name of the k = 0 reference; give the variant another name`);
  const rank: Record<CompareRole, number> = { reference: 0, markers: 1, pause: 2, variant: 3 };
  const rest = withRole.filter((v) => v.role !== 'reference').sort((a, b) => rank[a.role] - rank[b.role]);
  return [reference, ...rest];
}

/** The settings shared by every variant: the SFT config less each variant's interface and directory. */
export type CompareBudget = Partial<Omit<SftConfig, 'out' | keyof Omit<CompareVariant, 'name'>>> &
  Pick<SftConfig, 'model' | 'data'>;

/** `latent eval`'s settings used for every variant (defaults as `latent eval`'s). */
export type CompareEvalOptions = Pick<
  SftEvalOptions,
  'examples' | 'generate' | 'inspect' | 'maxNewTokens' | 'constantSteps' | 'oracle' | 'ablateGeneration' | 'seed'
>;

/** One variant's row of the comparison. */
export interface CompareRow {
  name: string;
  role: CompareRole;
  dir: string;
  variant: Omit<CompareVariant, 'name'>;
  /** trained now, continued from a checkpoint, or found complete */
  training: 'trained' | 'resumed' | 'reused';
  evaluation: 'evaluated' | 'reused';
  steps: number;
  finalTrainLoss: number | null;
  /** the run the helps endpoint is measured against, and the pause control for content beyond compute */
  reference: string | null;
  pause: string | null;
  verdict: StudyVerdict | null;
  reasons: string[];
  helps: Endpoint | null;
  used: Endpoint | null;
  contentBeyondCompute: Endpoint | null;
  zeros: Endpoint | null;
  spanRemoved: Endpoint | null;
  test: SftDiagnostics['test'];
  accuracy: { withLatents: number | null; withoutLatents: number; oracle: number | null; n: number } | null;
  accuracyNote: string | null;
  norms: SftDiagnostics['norms'];
  /** decoded latents: how often the result digit is among the decoded tokens, and the most recurring tokens */
  decoded: { latents: number; resultHitRate: number; recurring: { token: string; count: number }[] };
  startF1Calibrated: number;
  stopDecisionAccuracy: number | null;
  spuriousSpans: SftDiagnostics['spuriousSpans'];
  spanLengths: Record<string, number>;
}

export interface CompareResult {
  format: 'latent-compare';
  version: 1;
  out: string;
  updated: string;
  /** the budget every variant shares (from the reference's config.json, so defaults are explicit) */
  budget: Record<string, unknown>;
  evaluation: CompareEvalOptions;
  rows: CompareRow[];
}

export const COMPARE_FILE = 'compare.json';
/** Per run: the evaluation settings of its last `latent eval` in a comparison (for resuming). */
const EVAL_STAMP = 'compare-eval.json';

/** Config fields a finished run must share with the comparison to be reused (its budget and interface). */
const SHARED_FIELDS = [
  'model',
  'data',
  ...VARIANT_FIELDS,
  'steps',
  'batchSize',
  'lr',
  'minLr',
  'warmupSteps',
  'weightDecay',
  'gradClip',
  'startLossWeight',
  'stopLossWeight',
  'maxTrainExamples',
  'validationSize',
  'maxLatents',
  'latentTemperature',
  'headLr',
  'startFitExamples',
  'seed',
] as const satisfies readonly (keyof SftConfig)[];

export interface CompareOptions {
  out: string;
  budget: CompareBudget;
  variants: readonly CompareVariant[];
  evaluation?: CompareEvalOptions;
  /** hide progress bars (the one-line progress still goes to `log`) */
  quiet?: boolean;
  /** receives one line per stage of the comparison (default: standard error) */
  log?: (line: string) => void;
}

/** The config of one variant's run under the comparison's budget. */
export function variantConfig(out: string, budget: CompareBudget, v: CompareVariant): SftConfig {
  return resolveSftConfig({
    ...budget,
    mode: v.mode,
    latentInput: v.latentInput,
    coupling: v.coupling,
    latents: v.latents,
    markersAtZero: v.markersAtZero,
    freezeMarkers: v.freezeMarkers,
    latentSchedule: v.latentSchedule,
    out: path.join(out, v.name),
  });
}

/** The step of a run's latest checkpoint (0 with none). */
function checkpointStep(dir: string): number {
  const latest = latestCheckpoint(path.join(dir, 'checkpoints'), { warn: () => undefined });
  return latest ? readCheckpointManifest(latest).step : 0;
}

/** Refuses an existing run directory trained with another budget or interface (one line: what differs, and what to do). */
function checkExisting(config: SftConfig): void {
  const saved = new RunDir(config.out).readJson<Partial<SftConfig>>('config.json');
  if (!saved) return;
  for (const k of SHARED_FIELDS) {
    const a = saved[k] ?? null;
    const b = config[k] ?? null;
    const same = k === 'model' || k === 'data' ? path.resolve(String(a)) === path.resolve(String(b)) : a === b;
    if (!same)
      throw new CompareError(
        `${config.out} holds a run trained with ${k} ${JSON.stringify(a)}, this comparison asks for ${JSON.stringify(b)}; use another --out, or remove that directory to retrain it`,
      );
  }
}

const lastTrainLoss = (dir: string): number | null => {
  const lines = new RunDir(dir).readJsonl<MetricLine>(METRICS_FILE);
  const last = lines.at(-1);
  return last && typeof last.loss === 'number' ? last.loss : null;
};

const endpointOf = (e: { delta: number; ci: [number, number] } | null | undefined): Endpoint | null =>
  e ? { delta: e.delta, ci: e.ci } : null;

function rowOf(
  v: CompareVariant & { role: CompareRole },
  dir: string,
  training: CompareRow['training'],
  evaluation: CompareRow['evaluation'],
  refs: { reference: string | null; pause: string | null },
  d: SftDiagnostics,
): CompareRow {
  const { name, role, ...variant } = v;
  const s = d.study;
  return {
    name,
    role,
    dir,
    variant,
    training,
    evaluation,
    steps: d.step,
    finalTrainLoss: lastTrainLoss(dir),
    reference: s?.helps?.reference ?? refs.reference,
    pause: refs.pause,
    verdict: s?.verdict ?? null,
    reasons: s?.reasons ?? [],
    helps: endpointOf(s?.helps),
    used: endpointOf(s?.used),
    contentBeyondCompute: endpointOf(s?.contentBeyondCompute),
    zeros: endpointOf(s?.zeros),
    spanRemoved: endpointOf(s?.spanRemoved),
    test: d.test,
    accuracy: d.accuracy
      ? {
          withLatents: d.latents > 0 ? d.accuracy.withLatents : null,
          withoutLatents: d.accuracy.withoutLatents,
          oracle: d.accuracy.oracle ?? null,
          n: d.accuracy.n,
        }
      : null,
    accuracyNote: d.accuracyNote ?? null,
    norms: d.norms,
    decoded: { latents: d.decoded.length, resultHitRate: d.resultHitRate, recurring: d.recurring.slice(0, 8) },
    startF1Calibrated: d.startCalibrated.f1,
    stopDecisionAccuracy: d.stop?.spans ? d.stop.decisionAccuracy : null,
    spuriousSpans: d.spuriousSpans,
    spanLengths: d.spanLengths,
  };
}

/** Reads OUT/compare.json (null when there is none). */
export function readComparison(out: string): CompareResult | null {
  const file = path.join(out, COMPARE_FILE);
  if (!fs.existsSync(file)) return null;
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CompareResult;
  if (parsed.format !== 'latent-compare') throw new CompareError(`${file} is not a comparison (no "format": "latent-compare")`);
  return parsed;
}

/**
 * Trains and evaluates every variant under one budget (references first), writing OUT/compare.json
 * after each variant so an interrupted comparison keeps what it finished. Throws (CompareError) on a
 * bad plan before anything is trained, and on an interrupted or diverged run after saving what it had.
 */
export async function runComparison(o: CompareOptions): Promise<CompareResult> {
  const out = path.resolve(o.out);
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const plan = planVariants(o.variants);
  // every config resolved before anything runs: a bad budget fails here with nothing trained
  const configs = plan.map((v) => variantConfig(out, o.budget, v));
  configs.forEach(checkExisting);
  const evaluation: CompareEvalOptions = {
    examples: 200,
    generate: 50,
    inspect: 20,
    maxNewTokens: 200,
    constantSteps: 50,
    oracle: true,
    ablateGeneration: false,
    seed: o.budget.seed ?? 0,
    ...Object.fromEntries(Object.entries(o.evaluation ?? {}).filter(([, v]) => v !== undefined)),
  };
  fs.mkdirSync(out, { recursive: true });
  const { out: _out, ...budget } = configs[0];
  void _out;
  for (const k of VARIANT_FIELDS) delete (budget as Partial<SftConfig>)[k];
  const result: CompareResult = {
    format: 'latent-compare',
    version: 1,
    out,
    updated: new Date().toISOString(),
    budget,
    evaluation,
    rows: [],
  };
  const save = () => {
    result.updated = new Date().toISOString();
    writeTextAtomic(path.join(out, COMPARE_FILE), JSON.stringify(result, null, 2) + '\n');
  };
  const reevaluated = new Set<string>();
  const total = plan.length;
  for (let i = 0; i < total; i++) {
    const v = plan[i];
    const config = configs[i];
    const dir = config.out;
    const at = `compare [${i + 1}/${total}] ${v.name}`;
    const step = fs.existsSync(path.join(dir, 'config.json')) ? checkpointStep(dir) : null;
    let training: CompareRow['training'] = 'reused';
    if (step === null || step < config.steps) {
      training = step === null ? 'trained' : 'resumed';
      log(`${at}: ${step === null ? 'train' : `resume from step ${step}`} (${config.steps} steps)`);
      const trained = await trainSft(config, { resume: step !== null, quiet: o.quiet });
      if (trained.stopped !== 'completed') {
        save();
        throw new CompareError(
          `${v.name}: training ${trained.stopped === 'interrupted' ? 'was interrupted' : 'stopped on a non-finite loss'} at step ${trained.steps}; run the same command again to continue (finished variants are kept)`,
        );
      }
    } else log(`${at}: trained already (${step} steps), kept`);
    const reference = v.role === 'reference' || v.mode === 'two-trunk' ? null : plan[0].name;
    const pause =
      v.role === 'variant'
        ? (plan.find((p) => p.role === 'pause' && p.mode === v.mode && p.latents === v.latents)?.name ?? null)
        : null;
    const runDir = new RunDir(dir);
    const stamp = { evaluation, step: config.steps, reference, pause };
    const previous = runDir.readJson<typeof stamp>(EVAL_STAMP);
    const fresh =
      training === 'reused' &&
      previous !== null &&
      JSON.stringify(previous) === JSON.stringify(stamp) &&
      runDir.readJson<SftDiagnostics>('diagnostics.json')?.step === config.steps &&
      !(reference && reevaluated.has(reference)) &&
      !(pause && reevaluated.has(pause));
    let diagnostics: SftDiagnostics;
    if (fresh) {
      log(`${at}: evaluated already, kept`);
      diagnostics = runDir.readJson<SftDiagnostics>('diagnostics.json')!;
    } else {
      log(`${at}: latent eval${reference ? ` (helps vs ${reference})` : ''}${pause ? ` (beyond ${pause})` : ''}`);
      diagnostics = await evaluateSftRun(dir, {
        ...evaluation,
        quiet: o.quiet,
        reference: reference ? path.join(out, reference) : undefined,
        pause: pause ? path.join(out, pause) : undefined,
      });
      runDir.writeJson(EVAL_STAMP, stamp);
      reevaluated.add(v.name);
    }
    const row = rowOf(v, dir, training, fresh ? 'reused' : 'evaluated', { reference, pause }, diagnostics);
    result.rows.push(row);
    save();
    log(`${at}: ${describeRow(row)}`);
  }
  return result;
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));
const pct = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`;

/** One line per row: verdict, endpoints, accuracy. */
export function describeRow(r: CompareRow): string {
  const acc = r.accuracy
    ? `accuracy ${pct(r.accuracy.withLatents ?? r.accuracy.withoutLatents)}${r.accuracy.oracle !== null ? ` (oracle ${pct(r.accuracy.oracle)})` : ''}`
    : (r.accuracyNote ?? 'accuracy not measured');
  if (!r.verdict) return `reference: result-token loss ${f3(r.test.resultLoss)}; ${acc}`;
  return `${r.verdict}: helps ${endpointText(r.helps)}, used ${endpointText(r.used)}; ${acc}`;
}

/** The comparison as a terminal table: the endpoints side by side. */
export function formatComparison(c: CompareResult): string {
  const header = ['variant', 'verdict', ...ENDPOINT_HEADERS, 'accuracy', 'oracle', 'latent/token norm'];
  const rows = c.rows.map((r) => [
    r.name,
    r.verdict ?? '— (reference)',
    ...endpointCells(r.helps, r.used, r.contentBeyondCompute),
    pct(r.accuracy ? (r.accuracy.withLatents ?? r.accuracy.withoutLatents) : null),
    pct(r.accuracy?.oracle),
    r.variant.latents > 0 ? `${f3(r.norms.latent)} / ${f3(r.norms.token)}` : '—',
  ]);
  const b = c.budget;
  return [
    `comparison of ${c.rows.length} runs from ${String(b.model)} on ${String(b.data)}: ${String(b.steps)} steps, batch ${String(b.batchSize)}, lr ${String(b.lr)}, seed ${String(b.seed)}`,
    endpointLegend('variant'),
    ...textTable(header, rows),
  ].join('\n');
}
