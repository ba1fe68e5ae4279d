// The JSON option files of `latent train sft|rl` (--config, and a run's config.json on --resume).
import * as fs from 'fs';

/** The object in `file`, or {} when no file is given; an unreadable or malformed file names itself. */
export function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--config ${file}: ${(e as Error).message}`, { cause: e });
  }
}
