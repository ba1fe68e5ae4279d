/**
 * Model resolution: a local directory, or a Hugging Face hub id served from (and downloaded into) the standard
 * Hugging Face cache shared with Python's huggingface_hub / transformers.
 */
import * as fs from 'fs';
import * as path from 'path';
import { blobName, COMMIT_HASH, contentSize, expandHome, hfHome, hubCacheDir, RepoCache, type TreeEntry } from './cache';
import { HubClient, HubError } from './client';
import { matchesAnyPattern } from './patterns';

export { HubError, type HubErrorCode } from './client';
export { hubCacheDir } from './cache';

/** What a model needs: config, tokenizer and safetensors weights (never pickled .bin/.pt files). */
export const DEFAULT_MODEL_FILES: readonly string[] = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  '*.safetensors',
  'model.safetensors.index.json',
];

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface DownloadProgress {
  repoId: string;
  /** Path of the file inside the repository. */
  file: string;
  /** 1-based position of this file among the `fileCount` files this call downloads. */
  fileIndex: number;
  fileCount: number;
  loadedBytes: number;
  totalBytes: number;
  phase: 'start' | 'progress' | 'done';
}

export interface ResolveModelOptions {
  /** Branch, tag or commit hash. Default "main". */
  revision?: string;
  /** Hub cache folder. Default: `HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Never contact the hub. Default: `HF_HUB_OFFLINE` is 1/true/yes/on. */
  offline?: boolean;
  /** Hub address. Default: `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Access token for private or gated models. Default: `HF_TOKEN`, or the token file `huggingface-cli login` wrote. */
  token?: string;
  /** Which repository files to fetch (fnmatch patterns, as huggingface_hub's allow_patterns). Default DEFAULT_MODEL_FILES. */
  allowPatterns?: readonly string[];
  /** Called as downloads start, progress and finish. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Ask the hub which commit a branch/tag points to now, even when a complete snapshot of the cached one exists. */
  refresh?: boolean;
  /** Files downloaded at once. Default 4. */
  concurrency?: number;
}

/**
 * Returns a local directory holding the model `idOrPath`:
 *  - an existing directory is returned as is (absolute);
 *  - a hub id ("Org/Name") is served from the Hugging Face cache when the cached snapshot is complete, and otherwise
 *    downloaded into that cache (only the files matching `allowPatterns`, each written to a temporary file, verified
 *    against its size and hash, then renamed into place), in the layout Python's huggingface_hub uses.
 */
export async function resolveModel(idOrPath: string, options: ResolveModelOptions = {}): Promise<string> {
  const local = existingLocalDirectory(idOrPath);
  if (local !== undefined) return local;
  if (!isRepoId(idOrPath)) {
    throw new HubError(
      'invalid-id',
      `"${idOrPath}" is neither an existing local directory nor a Hugging Face model id of the form "Org/Name"`,
    );
  }
  try {
    return await resolveHubModel(idOrPath, options);
  } catch (error) {
    if (error instanceof HubError && error.code === 'not-found') {
      throw new HubError('not-found', `${error.message} There is no local directory "${idOrPath}" either.`, error.status);
    }
    throw error;
  }
}

/** Hub repository ids: "Name" or "Org/Name", letters/digits/`_`/`-`/`.`, no `--` or `..`, at most 96 characters. */
export function isRepoId(value: string): boolean {
  const part = '[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?';
  return new RegExp(`^(?:${part}/)?${part}$`).test(value) && !value.includes('--') && !value.includes('..') && value.length <= 96;
}

function existingLocalDirectory(idOrPath: string): string | undefined {
  const candidate = path.resolve(expandHome(idOrPath));
  if (!fs.existsSync(candidate)) {
    if (/^(?:\.{1,2}|~)?[/\\]/.test(idOrPath) || /^[A-Za-z]:[/\\]/.test(idOrPath)) {
      throw new HubError('invalid-id', `model directory not found: ${candidate}`);
    }
    return undefined;
  }
  if (!fs.statSync(candidate).isDirectory()) {
    throw new HubError('invalid-id', `${candidate} is a file; a model is a directory holding config.json and weights`);
  }
  return candidate;
}

async function resolveHubModel(repoId: string, options: ResolveModelOptions): Promise<string> {
  const revision = options.revision ?? 'main';
  // The revision names a file under refs/: keep it inside.
  if (revision.includes('\\') || revision.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new HubError('invalid-id', `invalid revision "${revision}": expected a branch, tag or commit hash`);
  }
  const cache = new RepoCache(path.resolve(expandHome(options.cacheDir ?? hubCacheDir())), repoId);
  const patterns = options.allowPatterns ?? DEFAULT_MODEL_FILES;
  const offline = options.offline ?? isTruthy(process.env.HF_HUB_OFFLINE);

  const cachedCommit = cache.cachedCommit(revision);
  const cached = cachedCommit === undefined ? undefined : inspectSnapshot(cache, cachedCommit, patterns);
  const mayMove = !COMMIT_HASH.test(revision);
  if (cached?.complete && !(options.refresh && mayMove && !offline)) return cache.snapshotDir(cachedCommit!);
  if (offline) {
    if (cached?.usable) return cache.snapshotDir(cachedCommit!);
    throw offlineError(repoId, revision, cache, cached?.missing ?? [], options.offline !== undefined);
  }

  const client = new HubClient(options.endpoint ?? (process.env.HF_ENDPOINT || DEFAULT_ENDPOINT), resolveToken(options.token));
  let commit: string;
  try {
    commit = mayMove ? await client.commitOf(repoId, revision) : revision;
  } catch (error) {
    // Hub unreachable: a snapshot that looks whole is better than failing (huggingface_hub does the same).
    if (error instanceof HubError && error.code === 'network' && cached?.usable) return cache.snapshotDir(cachedCommit!);
    throw error;
  }

  cache.sweepIncomplete();
  let listing = cache.readTree(commit);
  if (listing === undefined) {
    listing = await client.listFiles(repoId, commit);
    cache.writeTree(commit, listing);
  }
  const wanted = [...listing].filter(([file]) => matchesAnyPattern(file, patterns));
  if (wanted.length === 0) {
    const available = [...listing.keys()].slice(0, 20).join(', ');
    throw new HubError(
      'no-files',
      `"${repoId}" at ${revision} (${commit}) has no files matching ${patterns.join(', ')}; it has: ${available}`,
    );
  }
  cache.writeRef(revision, commit);
  const missing = wanted.filter(([file]) => !cache.hasSnapshotFile(commit, file));
  await forEachConcurrently(missing, options.concurrency ?? 4, async ([file, entry], index) => {
    const report = (phase: DownloadProgress['phase'], loadedBytes: number): void =>
      options.onProgress?.({
        repoId,
        file,
        fileIndex: index + 1,
        fileCount: missing.length,
        loadedBytes,
        totalBytes: contentSize(entry),
        phase,
      });
    await fetchIntoCache(client, cache, repoId, commit, file, entry, report);
  });
  return cache.snapshotDir(commit);
}

async function fetchIntoCache(
  client: HubClient,
  cache: RepoCache,
  repoId: string,
  commit: string,
  file: string,
  entry: TreeEntry,
  report: (phase: DownloadProgress['phase'], loadedBytes: number) => void,
): Promise<void> {
  const blob = blobName(entry);
  const size = contentSize(entry);
  report('start', 0);
  if (!fs.existsSync(cache.blobPath(blob))) {
    const temporary = cache.temporaryBlobPath(blob);
    const expected = entry.lfs_sha256 ? { size, sha256: entry.lfs_sha256 } : { size, gitBlobSha1: entry.blob_id };
    await client.downloadFile(repoId, commit, file, temporary, expected, (loaded) => report('progress', loaded));
    fs.renameSync(temporary, cache.blobPath(blob));
  }
  cache.linkSnapshotFile(commit, file, blob);
  report('done', size);
}

interface SnapshotState {
  /** Every file the cached listing names (after filtering) is present. */
  complete: boolean;
  /** Good enough when the hub cannot be asked: complete, or (without a listing) no dangling files or missing shards. */
  usable: boolean;
  missing: string[];
}

function inspectSnapshot(cache: RepoCache, commit: string, patterns: readonly string[]): SnapshotState {
  if (!fs.existsSync(cache.snapshotDir(commit))) return { complete: false, usable: false, missing: [] };
  const listing = cache.readTree(commit);
  if (listing !== undefined) {
    const expected = [...listing.keys()].filter((file) => matchesAnyPattern(file, patterns));
    const missing = expected.filter((file) => !cache.hasSnapshotFile(commit, file));
    const complete = expected.length > 0 && missing.length === 0;
    return { complete, usable: complete, missing };
  }
  // No listing (a cache from an older huggingface_hub, or copied by hand): judge by what is there.
  const present = cache.listSnapshotFiles(commit).filter((file) => matchesAnyPattern(file, patterns));
  const missing = present.filter((file) => !cache.hasSnapshotFile(commit, file));
  missing.push(...missingShards(cache, commit));
  return { complete: false, usable: present.length > 0 && missing.length === 0, missing };
}

/** Shards named by a present model.safetensors.index.json that the snapshot lacks. */
function missingShards(cache: RepoCache, commit: string): string[] {
  const indexFile = path.join(cache.snapshotDir(commit), 'model.safetensors.index.json');
  if (!fs.existsSync(indexFile)) return [];
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch {
    return ['model.safetensors.index.json (unreadable)'];
  }
  if (typeof weightMap !== 'object' || weightMap === null) return ['model.safetensors.index.json (no weight_map)'];
  const shards = new Set(Object.values(weightMap as Record<string, string>));
  return [...shards].filter((shard) => !cache.hasSnapshotFile(commit, String(shard)));
}

function offlineError(repoId: string, revision: string, cache: RepoCache, missing: string[], fromOption: boolean): HubError {
  const why = fromOption ? 'offline mode is on (offline: true)' : 'offline mode is on (HF_HUB_OFFLINE is set)';
  const state =
    missing.length > 0
      ? `the cached snapshot is incomplete (missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`
      : `it is not in the Hugging Face cache (${cache.root} has no complete snapshot of that revision)`;
  return new HubError(
    'offline-not-cached',
    `Cannot load model "${repoId}" (revision "${revision}"): ${state}, and ${why}. To fix: run once with network access ` +
      `(without HF_HUB_OFFLINE), or download it elsewhere (e.g. \`huggingface-cli download ${repoId}\`) and copy ` +
      `${path.basename(cache.root)} into ${cache.cacheDir} (or point HF_HUB_CACHE at a cache holding it), ` +
      'or pass a local directory with config.json, tokenizer.json and *.safetensors instead of the hub id.',
  );
}

function resolveToken(explicit: string | undefined): string | undefined {
  const fromEnv = explicit || process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return fromEnv.trim();
  const tokenFile = process.env.HF_TOKEN_PATH ? expandHome(process.env.HF_TOKEN_PATH) : path.join(hfHome(), 'token');
  try {
    return fs.readFileSync(tokenFile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** huggingface_hub's reading of boolean environment variables. */
function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

/** Runs `task` over `items` with at most `limit` in flight; stops starting new ones after the first failure, which it rethrows. */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await task(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
}
