// Shared pieces of the commands' options: groups under --help headings, flags of config fields,
// defaults shown in --help, one-line checks of paths that name the flag and the value, and the
// commands to run next after a training run.
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, Options } from 'yargs';

/** Options by --help heading: each flag's yargs definition, headings and flags in the order --help lists them. */
export type OptionGroups = Record<string, Record<string, Options>>;

/** The command `y` with the options of `groups`, each under its heading. */
export function addOptionGroups(y: Argv, groups: OptionGroups): Argv {
  for (const [heading, options] of Object.entries(groups)) y = y.options(options).group(Object.keys(options), heading);
  return y;
}

/** The flag of a config field: its name in `flagNames` (the shorter ones), else the field in kebab case (minLr: min-lr). */
export function flagOf<F extends string>(field: F, flagNames: Partial<Record<F, string>> = {}): string {
  return flagNames[field] ?? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Options given by config field, keyed by the fields' flags instead (see flagOf); an option that
 * states no default for --help shows the field's value in `defaults`.
 */
export function configOptions<F extends string>(
  byField: Partial<Record<F, Options>>,
  defaults: Partial<Record<F, unknown>>,
  flagNames: Partial<Record<F, string>> = {},
): Record<string, Options> {
  return Object.fromEntries(
    Object.entries<Options | undefined>(byField).map(([f, o]) => [
      flagOf(f as F, flagNames),
      { ...o, defaultDescription: o?.defaultDescription ?? shownDefault(defaults[f as F]) },
    ]),
  );
}

/**
 * The config `fields` given on the command line, read from yargs' arguments under their flags (see
 * flagOf). Flags not given are left out, so the result can be spread over a config file's values.
 */
export function configFromFlags<F extends string>(
  a: Record<string, unknown>,
  fields: readonly F[],
  flagNames: Partial<Record<F, string>> = {},
): Partial<Record<F, unknown>> {
  const out: Partial<Record<F, unknown>> = {};
  for (const f of fields) {
    const v = a[flagOf(f, flagNames)];
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** `defaultDescription` for --help: the value a run gets when the option is not given. */
export function shownDefault(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A flag's value that is not usable; the message is one line naming the flag and the value. */
export class OptionError extends Error {
  override name = 'OptionError';
  constructor(flag: string, value: unknown, problem: string) {
    super(`${flag} ${typeof value === 'string' ? value : JSON.stringify(value)}: ${problem}`);
  }
}

function stat(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/** An existing directory holding GSM8K-format train.jsonl and test.jsonl. */
export function checkDataDir(flag: string, value: string): void {
  const s = stat(value);
  if (!s) throw new OptionError(flag, value, 'does not exist (a directory with GSM8K-format train.jsonl and test.jsonl)');
  if (!s.isDirectory()) throw new OptionError(flag, value, 'is a file, not a directory with train.jsonl and test.jsonl');
  const missing = ['train.jsonl', 'test.jsonl'].filter((f) => !fs.existsSync(path.join(value, f)));
  if (missing.length)
    throw new OptionError(
      flag,
      value,
      `has no ${missing.join(' or ')} (a data directory holds GSM8K-format train.jsonl and test.jsonl)`,
    );
}

/** A local model directory (with config.json), or something that can only be a hub id ("Org/Name"). */
export function checkModelArg(flag: string, value: string): void {
  const s = stat(value);
  if (s) {
    if (!s.isDirectory())
      throw new OptionError(flag, value, 'is a file; a model is a directory with config.json and safetensors weights');
    if (fs.existsSync(path.join(value, 'config.json'))) {
      const kind = readKind(path.join(value, 'config.json'));
      if (kind === 'sft' || kind === 'rl')
        throw new OptionError(
          flag,
          value,
          `is a ${kind} run directory, not a model (export its model with \`latent export ${value} --out DIR\`)`,
        );
      return;
    }
    throw new OptionError(
      flag,
      value,
      'has no config.json (a model directory in Hugging Face format, or a hub id such as Qwen/Qwen2-0.5B)',
    );
  }
  if (/^(\.{1,2}|~)?[/\\]/.test(value) || !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(value))
    throw new OptionError(flag, value, 'does not exist (and is not a hub id such as Qwen/Qwen2-0.5B)');
}

/** An existing run directory written by a trainer (config.json with its kind); returns the kind. */
export function checkRunDir(flag: string, value: string, kinds: readonly string[] = ['sft', 'rl']): string {
  const s = stat(value);
  if (!s) throw new OptionError(flag, value, 'does not exist (a run directory written by `latent train`)');
  if (!s.isDirectory()) throw new OptionError(flag, value, 'is a file, not a run directory');
  const file = path.join(value, 'config.json');
  if (!fs.existsSync(file)) throw new OptionError(flag, value, 'is not a run directory (no config.json)');
  const kind = readKind(file);
  if (kind === undefined)
    throw new OptionError(
      flag,
      value,
      'has a config.json that is not a run’s (a model directory? runs are written by `latent train`)',
    );
  if (!kinds.includes(kind)) throw new OptionError(flag, value, `is a ${kind} run; expected ${kinds.join(' or ')}`);
  return kind;
}

function readKind(file: string): string | undefined {
  try {
    const kind = (JSON.parse(fs.readFileSync(file, 'utf8')) as { kind?: unknown }).kind;
    return typeof kind === 'string' ? kind : undefined;
  } catch {
    return undefined;
  }
}

/** What to run after a finished training run in `out` (printed by `latent train`). */
export function nextCommands(kind: 'sft' | 'rl', out: string, o: { latents?: number; data?: string } = {}): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const relative = path.relative(process.cwd(), out);
  const run = q(relative === '' ? '.' : relative.startsWith('..') ? out : relative);
  const lines = [`latent eval ${run}`, `latent report ${run}`];
  if (kind === 'sft' && o.latents === 0)
    lines.push(`latent export ${run} --out ${run}-model   # phase 0 → the model for phase 1 (--model)`);
  if (kind === 'sft' && o.latents !== 0 && o.data)
    lines.push(`latent train rl --from ${run} --data ${q(o.data)} --out ${run}-rl`);
  return `next:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
