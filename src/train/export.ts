// `latent export RUN --out DIR`: the language model of a run, at its latest checkpoint, as a Hugging
// Face directory — config.json, generation_config.json, safetensors weights, and tokenizer.json /
// tokenizer_config.json holding the added <bot>/<eot> tokens — which transformers' from_pretrained
// loads and `latent train sft --model DIR` starts from (phase 0 → phase 1 on a real checkpoint).
// The latent heads, and a two-trunk run's trainable latent trunk, have no place in that format: they
// stay in the run's checkpoints.
import * as fs from 'fs';
import * as path from 'path';
import type { DType } from '../torch';
import type { LatentModel } from '../latent/model';
import { saveQwen2 } from '../models/qwen2/loading';
import { loadSftRun } from './sft';

export interface HfExportOptions {
  /** dtype of the written weights (default: the model's) */
  dtype?: DType;
  /** largest safetensors shard in bytes (default 5 GB, as Hugging Face) */
  maxShardBytes?: number;
  /** called after each tensor is written */
  onProgress?: (done: number, total: number) => void;
  /** write into a non-empty directory that holds no model of this library (its other files are kept) */
  force?: boolean;
}

export interface HfExportResult {
  out: string;
  /** the run's step the weights come from */
  step: number;
  /** files written, relative to `out` */
  files: string[];
}

/** Writes the language model and tokenizer of `lm` to `outDir` in Hugging Face format. */
export function writeHfModel(lm: LatentModel, outDir: string, o: HfExportOptions = {}): string[] {
  saveQwen2(lm.model, outDir, {
    tokenizer: lm.tokenizer,
    dtype: o.dtype,
    maxShardBytes: o.maxShardBytes,
    onProgress: o.onProgress,
    force: o.force,
  });
  return fs.readdirSync(outDir).sort();
}

/**
 * Refuses an output directory that would lose something: the run itself, or a non-empty directory
 * that is not an earlier export (a Hugging Face model directory, which is replaced), unless `force`.
 */
export function checkExportDir(runDir: string, outDir: string, force = false): void {
  const run = path.resolve(runDir);
  const out = path.resolve(outDir);
  if (out === run || out.startsWith(run + path.sep))
    throw new Error(`--out ${outDir}: inside the run directory ${runDir}; choose a directory of its own`);
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new Error(`--out ${outDir}: exists and is not a directory`);
  const entries = fs.readdirSync(out);
  if (entries.length === 0 || force) return;
  let modelType: unknown;
  try {
    modelType = (JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type;
  } catch {
    modelType = undefined;
  }
  if (typeof modelType !== 'string')
    throw new Error(
      `--out ${outDir}: not empty and not a model directory (${entries.slice(0, 5).join(', ')}); choose an empty or new directory`,
    );
}

/** Exports a phase-1 (sft) run's model at its latest checkpoint; see the file comment. */
export async function exportSftRun(runDir: string, outDir: string, o: HfExportOptions = {}): Promise<HfExportResult> {
  checkExportDir(runDir, outDir, o.force);
  const run = await loadSftRun(runDir);
  try {
    if (!run.checkpoint)
      throw new Error(`${runDir}: the run has no checkpoint to export (did training stop before its first step?)`);
    return { out: path.resolve(outDir), step: run.step, files: writeHfModel(run.lm, outDir, o) };
  } finally {
    run.lm.dispose();
  }
}
