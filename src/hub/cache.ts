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
    return path.join(this.root, 'snapshots', commit);
  }

  blobPath(blob: string): string {
    return path.join(this.root, 'blobs', blob);
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
    const listing: TreeListing = new Map();
    for (const [filePath, entry] of Object.entries(files as Record<string, TreeEntry>)) {
      if (typeof entry?.size !== 'number' || typeof entry.blob_id !== 'string') return undefined;
      listing.set(filePath, entry);
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
    fs.mkdirSync(path.join(this.root, 'blobs'), { recursive: true });
    return `${this.blobPath(blob)}.${process.pid}.${Math.random().toString(36).slice(2)}.incomplete`;
  }

  /** Points `snapshots/<commit>/<file>` at `blobs/<blob>` with a relative symlink, replacing any previous entry atomically. */
  linkSnapshotFile(commit: string, file: string, blob: string): void {
    const target = path.join(this.snapshotDir(commit), file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
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
    return path.join(this.root, 'trees', `${commit}.json`);
  }
}
