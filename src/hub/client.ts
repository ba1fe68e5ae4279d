/**
 * A small client for the Hugging Face hub's HTTP API, limited to what model downloads need and speaking the same
 * endpoints as Python's huggingface_hub (so mirrors that serve one serve the other):
 *
 *   GET  {endpoint}/api/models/{repo}/revision/{revision}              → { sha, ... }  (commit of a branch/tag)
 *   GET  {endpoint}/api/models/{repo}/tree/{commit}?recursive=true     → [{ type, path, size, oid, lfs?, xetHash? }]
 *                                                                         paginated with a `Link: <…>; rel="next"` header
 *   GET  {endpoint}/{repo}/resolve/{commit}/{path}                     → the file (LFS/Xet files redirect to a CDN)
 */
import { createHash, type Hash } from 'crypto';
import * as fs from 'fs';
import type { TreeEntry, TreeListing } from './cache';
import { COMMIT_HASH, invalidTreeEntry, unsafeRepoPath } from './cache';
import { HubError } from './errors';

export { HubError, type HubErrorCode } from './errors';

export interface FileDownload {
  /** Content size from the listing; the download must have exactly this many bytes. */
  size: number;
  /** Expected sha256 (LFS/Xet files) or git blob sha1 (other files) of the content. */
  sha256?: string;
  gitBlobSha1?: string;
}

/** Bytes received so far and the expected total, after every chunk. */
export type BytesCallback = (loadedBytes: number, totalBytes: number) => void;

/** Enough for a million files at the hub's page size of 1,000; a listing that goes on longer is refused. */
export const MAX_TREE_PAGES = 1000;
const RETRIES = 3;
const RETRY_BASE_DELAY_MS = 400;
const USER_AGENT = `latent-tokens; node/${process.versions.node}`;

export class HubClient {
  private readonly endpoint: string;

  constructor(
    endpoint: string,
    private readonly token: string | undefined,
  ) {
    this.endpoint = endpoint.replace(/\/+$/, '');
  }

  /** The commit hash `revision` (branch, tag or commit) currently points to. */
  async commitOf(repoId: string, revision: string): Promise<string> {
    const url = `${this.endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}`;
    const body = await this.withRetries(async () => parseJson(await this.request(url, repoId, revision), url));
    const sha = (body as { sha?: unknown } | null)?.sha;
    if (typeof sha !== 'string' || !COMMIT_HASH.test(sha)) {
      throw new HubError('bad-response', `${url} answered without a commit hash ("sha"): ${JSON.stringify(body).slice(0, 200)}`);
    }
    return sha;
  }

  /** Every file of the repository at `commit`, following pagination (at most MAX_TREE_PAGES pages). */
  async listFiles(repoId: string, commit: string): Promise<TreeListing> {
    const listing: TreeListing = new Map();
    let url: string | undefined = `${this.endpoint}/api/models/${repoId}/tree/${commit}?recursive=true&expand=false`;
    for (let pages = 0; url !== undefined; pages++) {
      if (pages === MAX_TREE_PAGES)
        throw new HubError(
          'bad-response',
          `${repoId}@${commit}: the file listing goes on past ${MAX_TREE_PAGES} pages; refusing to follow more`,
        );
      const pageUrl: string = url;
      const { response, page } = await this.withRetries(async () => {
        const pageResponse = await this.request(pageUrl, repoId, commit);
        return { response: pageResponse, page: await parseJson(pageResponse, pageUrl) };
      });
      if (!Array.isArray(page)) throw new HubError('bad-response', `${url} did not answer with a JSON array of files`);
      for (const item of page) {
        if (item?.type !== 'file') continue;
        const entry = treeEntryFrom(item, url);
        listing.set(safeRepoPath(item.path, url), entry);
      }
      url = nextPageUrl(response.headers.get('link'), url, this.endpoint);
    }
    return listing;
  }

  /**
   * Downloads `file` at `commit` into `destination` (created or truncated), checking its size and hash; on any failure
   * the partial file is removed. Transient failures (network errors, HTTP 429/5xx) are retried.
   */
  async downloadFile(
    repoId: string,
    commit: string,
    file: string,
    destination: string,
    expected: FileDownload,
    onBytes?: BytesCallback,
  ): Promise<void> {
    const url = `${this.endpoint}/${repoId}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.withRetries(async () => {
        const response = await this.request(url, repoId, commit);
        await writeBody(response, destination, expected, url, onBytes);
      });
    } catch (error) {
      fs.rmSync(destination, { force: true });
      throw error;
    }
  }

  /** GET with auth; maps HTTP failures to HubErrors that say what to do. Redirects are followed (fetch drops the
   * Authorization header when a redirect leaves the hub's origin, e.g. to a CDN). */
  private async request(url: string, repoId: string, revision: string): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(url, { headers, redirect: 'follow' });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new HubError(
        'network',
        `cannot reach ${this.endpoint} (${cause?.code ?? cause?.message ?? (error as Error).message}) while fetching ${url}. ` +
          'Check the network or HF_ENDPOINT; with the files already cached, HF_HUB_OFFLINE=1 skips the hub.',
        undefined,
        true,
      );
    }
    if (response.ok) return response;
    const serverMessage = response.headers.get('x-error-message') ?? (await response.text().catch(() => '')).slice(0, 300);
    const detail = `${response.status} ${response.statusText} for ${url}${serverMessage ? `: ${serverMessage}` : ''}`;
    void response.body?.cancel().catch(() => undefined);
    const tokenHint = this.token
      ? 'The token in use (HF_TOKEN or the token option) lacks access.'
      : 'No token was sent: set HF_TOKEN (or pass token) to a Hugging Face access token.';
    switch (response.status) {
      case 401:
        throw new HubError(
          'unauthorized',
          `"${repoId}" needs authentication (private or gated repository). ${tokenHint} (${detail})`,
          401,
        );
      case 403:
        throw new HubError(
          'forbidden',
          `access to "${repoId}" is forbidden: for a gated model, accept its terms on the hub first. ${tokenHint} (${detail})`,
          403,
        );
      case 404:
        throw new HubError(
          'not-found',
          `"${repoId}" at revision "${revision}" was not found on ${this.endpoint}: check the repository id and revision ` +
            `(a private repository also answers 404 without a valid token). (${detail})`,
          404,
        );
      default:
        throw new HubError('http', `the hub answered ${detail}`, response.status, isTransient(response.status));
    }
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof HubError && error.transient) || tries >= RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_DELAY_MS * 2 ** (tries - 1)));
      }
    }
  }
}

function isTransient(status: number): boolean {
  return status === 429 || status >= 500;
}

async function parseJson(response: Response, url: string): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new HubError('bad-response', `${url} did not answer with JSON: ${text.slice(0, 200)}`);
  }
}

function treeEntryFrom(item: Record<string, unknown>, url: string): TreeEntry {
  const bad = (what: string): HubError =>
    new HubError('bad-response', `${url}: file entry ${JSON.stringify(item).slice(0, 200)} ${what}`);
  if (typeof item.path !== 'string') throw bad('has no "path"');
  const lfs = item.lfs as { oid?: unknown; size?: unknown } | undefined | null;
  if (lfs && (typeof lfs.oid !== 'string' || typeof lfs.size !== 'number'))
    throw bad('has an "lfs" field without a sha256 "oid" and a numeric "size"');
  const entry = {
    size: item.size,
    blob_id: item.oid,
    ...(lfs ? { lfs_sha256: lfs.oid, lfs_size: lfs.size } : {}),
    ...(typeof item.xetHash === 'string' ? { xet_hash: item.xetHash } : {}),
  };
  // The same check as for a cached listing (cache.readTree).
  const invalid = invalidTreeEntry(entry);
  if (invalid) throw bad(invalid);
  return entry as TreeEntry;
}

/** Repository paths become local paths: refuse anything that could leave the snapshot folder. */
export function safeRepoPath(repoPath: unknown, source: string): string {
  const text = String(repoPath);
  const reason = unsafeRepoPath(text);
  if (reason) throw new HubError('bad-response', `${source}: ${reason}`);
  return text;
}

/**
 * The `rel="next"` URL of an RFC 8288 Link header, resolved against the current page. It must stay on the
 * endpoint's origin: the token goes with every page request.
 */
export function nextPageUrl(linkHeader: string | null, currentUrl: string, endpoint: string): string | undefined {
  if (!linkHeader) return undefined;
  for (const part of linkHeader.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel\s*=\s*"?next"?/.test(match[2])) {
      const next = new URL(match[1], currentUrl);
      if (next.origin !== new URL(endpoint).origin)
        throw new HubError(
          'bad-response',
          `${currentUrl}: refusing a next-page link to another origin (${next.origin}; the hub is ${new URL(endpoint).origin})`,
        );
      return next.toString();
    }
  }
  return undefined;
}

async function writeBody(
  response: Response,
  destination: string,
  expected: FileDownload,
  url: string,
  onBytes?: BytesCallback,
): Promise<void> {
  const sha256 = expected.sha256 ? createHash('sha256') : undefined;
  // git hashes "blob <size>\0" followed by the content
  const gitSha1: Hash | undefined = expected.gitBlobSha1 ? createHash('sha1').update(`blob ${expected.size}\0`) : undefined;
  const handle = await fs.promises.open(destination, 'w');
  let loaded = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body) {
        const bytes = chunk as Uint8Array;
        loaded += bytes.byteLength;
        if (loaded > expected.size) break;
        sha256?.update(bytes);
        gitSha1?.update(bytes);
        await handle.write(bytes);
        onBytes?.(loaded, expected.size);
      }
    }
  } catch (error) {
    // Local file-system failures (ENOSPC, EACCES: they carry a syscall) are not worth retrying.
    if (error instanceof HubError || (error as NodeJS.ErrnoException).syscall !== undefined) throw error;
    throw new HubError(
      'network',
      `${url}: the download broke off after ${loaded} bytes (${(error as Error).message})`,
      undefined,
      true,
    );
  } finally {
    await handle.close();
  }
  if (loaded !== expected.size) {
    throw new HubError('integrity', `${url}: expected ${expected.size} bytes, got ${loaded > expected.size ? 'more' : loaded}`);
  }
  for (const [hash, want, name] of [
    [sha256, expected.sha256, 'sha256'],
    [gitSha1, expected.gitBlobSha1, 'git blob sha1'],
  ] as const) {
    const got = hash?.digest('hex');
    if (got !== undefined && got !== want) {
      throw new HubError('integrity', `${url}: ${name} mismatch (expected ${want}, got ${got}); the download is corrupt`);
    }
  }
}
