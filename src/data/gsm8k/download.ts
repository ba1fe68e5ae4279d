/** Fetching the official GSM8K splits into a directory, checked and written atomically. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTextAtomic } from '../../util/atomic-write';
import { GSM8K_SPLITS, formatLoadReport, parseGsm8kJsonl, type Gsm8kSplit } from './load';

/** Raw files of the official release: https://github.com/openai/grade-school-math */
export const GSM8K_BASE_URL = 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data';

export interface DownloadOptions {
  /** Where `<split>.jsonl` is fetched from; defaults to {@link GSM8K_BASE_URL}. */
  baseUrl?: string;
  splits?: readonly Gsm8kSplit[];
  /** Re-download files that already exist (default: keep them). */
  overwrite?: boolean;
  /** Per-file timeout (default 120 s). */
  timeoutMs?: number;
}

export interface DownloadResult {
  files: Partial<Record<Gsm8kSplit, string>>;
  downloaded: Gsm8kSplit[];
  /** Splits whose file already existed and was kept. */
  kept: Gsm8kSplit[];
}

const OFFLINE_ERROR_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
]);

/**
 * Downloads the GSM8K JSONL splits into `destDir` (created if needed). Each file is checked to parse
 * as GSM8K and then written atomically (temporary file + rename), so an interrupted download never
 * leaves a truncated `train.jsonl` behind.
 */
export async function downloadGsm8k(destDir: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const baseUrl = (options.baseUrl ?? GSM8K_BASE_URL).replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 120_000;
  fs.mkdirSync(destDir, { recursive: true });
  const result: DownloadResult = { files: {}, downloaded: [], kept: [] };
  for (const split of options.splits ?? GSM8K_SPLITS) {
    const file = path.join(destDir, `${split}.jsonl`);
    result.files[split] = file;
    if (!options.overwrite && fs.existsSync(file)) {
      result.kept.push(split);
      continue;
    }
    const url = `${baseUrl}/${split}.jsonl`;
    const text = await fetchText(url, timeoutMs, destDir);
    const { report } = parseGsm8kJsonl(text, { source: url });
    if (report.ok === 0) {
      throw new Error(
        `Downloaded ${url} but it is not GSM8K JSONL (${formatLoadReport(report, { maxLinesPerReason: 3 })}); nothing was written`,
      );
    }
    writeTextAtomic(file, text);
    result.downloaded.push(split);
  }
  return result;
}

async function fetchText(url: string, timeoutMs: number, destDir: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (error as Error).name;
    const offline = OFFLINE_ERROR_CODES.has(code) || code === 'TimeoutError' || code === 'AbortError';
    const hint = offline
      ? `the network or host is unreachable (offline?). Put train.jsonl and test.jsonl from https://github.com/openai/grade-school-math into ${destDir} by hand`
      : (error as Error).message;
    throw new Error(`Could not download ${url} (${code}): ${hint}`, { cause: error });
  }
  if (!response.ok) {
    throw new Error(`Could not download ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return response.text();
}
