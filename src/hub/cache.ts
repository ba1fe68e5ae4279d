/**
 * The Hugging Face hub cache, laid out exactly as Python's huggingface_hub writes it, so that both share one cache:
 *
 *   <cacheDir>/models--Org--Name/
 *     refs/<revision>                 commit hash the branch/tag pointed to when last resolved
 *     trees/<commit>.json             file listing of that commit (huggingface_hub ≥ 1.x "tree cache")
 *     blobs/<etag>                    file contents, named by LFS sha256 or git blob sha1
 *     snapshots/<commit>/<path>       relative symlinks into ../../blobs (copies where symlinks are unavailable)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeTextAtomic } from '../util/atomic-write';
import { HubError } from './errors';
import { processAlive } from '../util/process';

/** One file of a repository at a commit: the fields of the hub's `/tree` listing, as the Python tree cache stores them. */
export interface TreeEntry {
  size: number;
  /** git blob sha1 */
  blob_id: string;
  /** sha256 of the content, for files stored with LFS/Xet */
  lfs_sha256?: string;
  lfs_size?: number;
  xet_hash?: string;
}

export type TreeListing = Map<string, TreeEntry>;

/** Why an entry of a tree listing (network or cached) cannot be trusted to name a blob, or null. */
export function invalidTreeEntry(entry: unknown): string | null {
  if (typeof entry !== 'object' || entry === null) return 'is not an object';
  const e = entry as Record<string, unknown>;
  const size = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  // The hashes name cached blobs, so they must be plain hashes.
  if (!size(e.size) || typeof e.blob_id !== 'string' || !/^[0-9a-f]{40}$/.test(e.blob_id))
    return 'needs a numeric "size" and a git sha1 blob id';
  if (
    e.lfs_sha256 !== undefined &&
    (typeof e.lfs_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.lfs_sha256) || !size(e.lfs_size))
  )
    return 'has an LFS entry without a sha256 and a numeric size';
  if (e.lfs_sha256 === undefined && e.lfs_size !== undefined) return 'has an LFS size without a sha256';
  if (e.xet_hash !== undefined && typeof e.xet_hash !== 'string') return 'has a non-string xet hash';
  return null;
}

/** Why a repository path cannot become a local path (it could leave the snapshot folder), or null. */
export function unsafeRepoPath(text: string): string | null {
  const segments = text.split('/');
  if (
    text.length === 0 ||
    text.startsWith('/') ||
    text.includes('\\') ||
    text.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  )
    return `refusing the unsafe file path ${JSON.stringify(text)}`;
  return null;
}

const TREE_CACHE_FORMAT_VERSION = 1;
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return expandHome(explicit);
  return path.join(hfHome(env), 'hub');
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'huggingface');
}

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** The name of a blob: the content's sha256 for LFS/Xet files, else its git blob sha1 (what the hub sends as ETag). */
export function blobName(entry: TreeEntry): string {
  return entry.lfs_sha256 ?? entry.blob_id;
}

/** Size in bytes of the file's content (the LFS size when the listing gives one). */
export function contentSize(entry: TreeEntry): number {
  return entry.lfs_size ?? entry.size;
}

export class RepoCache {
  readonly root: string;

  constructor(
    readonly cacheDir: string,
    readonly repoId: string,
  ) {
    this.root = path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  snapshotDir(commit: string): string {
    if (!COMMIT_HASH.test(commit)) throw new Error(`not a commit hash: ${JSON.stringify(commit)}`);
    return path.join(this.root, 'snapshots', commit);
  }

  blobPath(blob: string): string {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(blob)) throw new Error(`not a blob hash: ${JSON.stringify(blob)}`);
    return path.join(this.root, 'blobs', blob);
  }

  /**
   * `path` if it stays inside this repository's cache folder once every symlink already on disk is
   * resolved (a planted link must not lead a write outside), else an error.
   */
  inside(p: string): string {
    const real = (q: string): string => {
      // the longest existing prefix, resolved; the rest appended as is
      let head = path.resolve(q);
      const rest: string[] = [];
      while (!fs.existsSync(head)) {
        rest.unshift(path.basename(head));
        const up = path.dirname(head);
        if (up === head) break;
        head = up;
      }
      return path.join(fs.realpathSync(head), ...rest);
    };
    const root = real(this.root);
    const resolved = real(p);
    if (resolved !== root && !resolved.startsWith(root + path.sep))
      throw new HubError('unsafe-cache', `refusing to write ${p}: it resolves to ${resolved}, outside the cache folder ${root}`);
    return p;
  }

  /** Removes this process's abandoned downloads: `*.incomplete` blobs of processes no longer running, or a day old. */
  sweepIncomplete(now = Date.now()): string[] {
    const dir = path.join(this.root, 'blobs');
    const removed: string[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return removed;
    }
    for (const name of names) {
      // Ours are <blob>.<pid>.<random>.incomplete; huggingface_hub's <blob>.incomplete resume later, so only old ones go.
      const ours = /^[0-9a-f]+\.(\d+)\.[0-9a-z]+\.incomplete$/.exec(name);
      if (!ours && !name.endsWith('.incomplete')) continue;
      const file = path.join(dir, name);
      let stale: boolean;
      try {
        const age = now - fs.lstatSync(file).mtimeMs;
        stale =
          age > (ours ? 24 : 7 * 24) * 3600_000 ||
          (ours !== null && Number(ours[1]) !== process.pid && !processAlive(Number(ours[1])));
      } catch {
        continue;
      }
      if (stale) {
        fs.rmSync(file, { force: true });
        removed.push(name);
      }
    }
    return removed;
  }

  /** The commit a revision names: itself if it is a commit hash, else what `refs/<revision>` recorded, if anything. */
  cachedCommit(revision: string): string | undefined {
    if (COMMIT_HASH.test(revision)) return revision;
    const refFile = path.join(this.root, 'refs', revision);
    if (!fs.existsSync(refFile)) return undefined;
    const commit = fs.readFileSync(refFile, 'utf8').trim();
    return COMMIT_HASH.test(commit) ? commit : undefined;
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit || this.cachedCommit(revision) === commit) return;
    const refFile = path.join(this.root, 'refs', revision);
    fs.mkdirSync(path.dirname(refFile), { recursive: true });
    writeTextAtomic(refFile, commit);
  }

  readTree(commit: string): TreeListing | undefined {
    const file = this.treeFile(commit);
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return undefined; // missing or unreadable: callers fetch the listing again, as huggingface_hub does
    }
    if (typeof data !== 'object' || data === null) return undefined;
    const { format_version: version, files } = data as { format_version?: unknown; files?: unknown };
    if (version !== TREE_CACHE_FORMAT_VERSION || typeof files !== 'object' || files === null) return undefined;
    // Checked exactly as a listing from the hub: a planted or damaged one is ignored (and fetched again).
    const listing: TreeListing = new Map();
    for (const [filePath, entry] of Object.entries(files as Record<string, unknown>)) {
      if (unsafeRepoPath(filePath) !== null || invalidTreeEntry(entry) !== null) return undefined;
      const { size, blob_id, lfs_sha256, lfs_size, xet_hash } = entry as TreeEntry;
      listing.set(filePath, {
        size,
        blob_id,
        ...(lfs_sha256 !== undefined ? { lfs_sha256, lfs_size } : {}),
        ...(xet_hash !== undefined ? { xet_hash } : {}),
      });
    }
    return listing;
  }

  writeTree(commit: string, listing: TreeListing): void {
    const files: Record<string, TreeEntry> = {};
    for (const filePath of [...listing.keys()].sort()) files[filePath] = listing.get(filePath)!;
    const file = this.treeFile(commit);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeTextAtomic(file, JSON.stringify({ format_version: TREE_CACHE_FORMAT_VERSION, files }, null, 1));
  }

  /** True if the snapshot has `file` and it resolves to content (a dangling link does not count). */
  hasSnapshotFile(commit: string, file: string): boolean {
    return fs.existsSync(path.join(this.snapshotDir(commit), file));
  }

  /** Paths (with `/`) of every file in a snapshot, whether or not its link resolves. */
  listSnapshotFiles(commit: string): string[] {
    const root = this.snapshotDir(commit);
    const files: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const relative = prefix + entry.name;
        if (entry.isDirectory()) walk(path.join(dir, entry.name), `${relative}/`);
        else files.push(relative);
      }
    };
    if (fs.existsSync(root)) walk(root, '');
    return files;
  }

  /** A unique temporary path beside the blob, renamed into place once the download is complete and verified. */
  temporaryBlobPath(blob: string): string {
    this.inside(this.blobPath(blob));
    fs.mkdirSync(path.join(this.root, 'blobs'), { recursive: true });
    return `${this.blobPath(blob)}.${process.pid}.${Math.random().toString(36).slice(2)}.incomplete`;
  }

  /** Points `snapshots/<commit>/<file>` at `blobs/<blob>` with a relative symlink, replacing any previous entry atomically. */
  linkSnapshotFile(commit: string, file: string, blob: string): void {
    const reason = unsafeRepoPath(file);
    if (reason) throw new HubError('unsafe-cache', reason);
    const target = this.inside(path.join(this.snapshotDir(commit), file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.inside(target); // again, now that the folders exist
    const temporary = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      fs.symlinkSync(path.relative(path.dirname(target), this.blobPath(blob)), temporary);
    } catch (error) {
      // No symlinks (e.g. Windows without developer mode): keep a copy, as huggingface_hub does.
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      fs.copyFileSync(this.blobPath(blob), temporary);
    }
    fs.renameSync(temporary, target);
  }

  private treeFile(commit: string): string {
    if (!COMMIT_HASH.test(commit)) throw new Error(`not a commit hash: ${JSON.stringify(commit)}`);
    return path.join(this.root, 'trees', `${commit}.json`);
  }
}
