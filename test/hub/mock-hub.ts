/**
 * Test helper: an HTTP server on 127.0.0.1 that answers the Hugging Face hub endpoints model downloads use, closely
 * enough for both our client and Python's huggingface_hub:
 *
 *   GET       /api/models/{repo}/revision/{rev}       → { id, sha, siblings }
 *   GET       /api/models/{repo}/tree/{rev}?…         → file entries, `pageSize` per page, `Link: rel="next"` paging
 *   HEAD/GET  /{repo}/resolve/{rev}/{path}            → small files directly (ETag = git blob sha1); LFS files 302 to
 *                                                       a second "CDN" server on another port (X-Linked-Etag = sha256)
 */
import { createHash } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface MockFile {
  path: string;
  content: Buffer;
  /** Stored with LFS: served through the CDN redirect and identified by sha256. */
  lfs?: boolean;
}

export interface MockRepo {
  id: string;
  /** branch name → commit */
  branches: Record<string, string>;
  /** commit → files */
  commits: Record<string, MockFile[]>;
}

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  authorization?: string;
}

export const gitBlobSha1 = (content: Buffer): string =>
  createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
export const sha256 = (content: Buffer): string => createHash('sha256').update(content).digest('hex');

export class MockHub {
  readonly requests: RecordedRequest[] = [];
  /** When set, hub endpoints answer 401 unless this bearer token is sent. */
  requiredToken?: string;
  /** Repository paths whose content is served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Repository paths whose next download answers 503 once. */
  readonly failOnce = new Set<string>();
  pageSize = 3;
  /** Rewrites the `Link: rel="next"` URL of tree pages (a hostile or broken hub); `always` sends one on every page. */
  nextLink?: { rewrite: (next: URL) => string; always?: boolean };

  private readonly hub = http.createServer((req, res) => this.handleHub(req, res));
  private readonly cdn = http.createServer((req, res) => this.handleCdn(req, res));
  private cdnOrigin = '';
  endpoint = '';

  constructor(readonly repos: MockRepo[]) {}

  async start(): Promise<string> {
    const listen = (server: http.Server): Promise<number> =>
      new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    this.endpoint = `http://127.0.0.1:${await listen(this.hub)}`;
    this.cdnOrigin = `http://127.0.0.1:${await listen(this.cdn)}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  requestsTo(server: 'hub' | 'cdn'): RecordedRequest[] {
    return this.requests.filter((r) => r.server === server);
  }

  private record(server: 'hub' | 'cdn', req: http.IncomingMessage): void {
    this.requests.push({ server, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
  }

  private handleHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('hub', req);
    const url = new URL(req.url ?? '/', this.endpoint);
    if (this.requiredToken !== undefined && req.headers.authorization !== `Bearer ${this.requiredToken}`) {
      return this.fail(res, 401, 'Invalid credentials in Authorization header');
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const [, repoId, kind, revision] = api;
      const found = this.lookup(repoId, decodeURIComponent(revision));
      if (!found) return this.fail(res, 404, 'Repository or revision not found');
      const { commit, files } = found;
      if (kind === 'revision') {
        return this.json(res, { id: repoId, sha: commit, siblings: files.map((f) => ({ rfilename: f.path })) });
      }
      const entries = files.map((f) => ({
        type: 'file',
        path: f.path,
        size: f.content.length,
        oid: gitBlobSha1(f.lfs ? lfsPointer(f.content) : f.content),
        ...(f.lfs ? { lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: lfsPointer(f.content).length } } : {}),
      }));
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(start, start + this.pageSize);
      if (start + this.pageSize < entries.length || this.nextLink?.always) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(start + this.pageSize));
        res.setHeader('Link', `<${this.nextLink ? this.nextLink.rewrite(next) : next.toString()}>; rel="next"`);
      }
      return this.json(res, page);
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const [, repoId, revision, encodedPath] = resolve;
      const found = this.lookup(repoId, decodeURIComponent(revision));
      const filePath = encodedPath.split('/').map(decodeURIComponent).join('/');
      const file = found?.files.find((f) => f.path === filePath);
      if (!found || !file) return this.fail(res, 404, 'Entry not found');
      if (req.method === 'GET' && this.failOnce.delete(filePath)) return this.fail(res, 503, 'Service temporarily unavailable');
      res.setHeader('X-Repo-Commit', found.commit);
      if (file.lfs) {
        res.setHeader('X-Linked-Etag', `"${sha256(file.content)}"`);
        res.setHeader('X-Linked-Size', String(file.content.length));
        res.setHeader('ETag', `"${gitBlobSha1(lfsPointer(file.content))}"`);
        res.writeHead(302, { Location: `${this.cdnOrigin}/blobs/${sha256(file.content)}?path=${encodeURIComponent(filePath)}` });
        return void res.end();
      }
      res.setHeader('ETag', `"${gitBlobSha1(file.content)}"`);
      return this.send(req, res, filePath, file.content);
    }
    this.fail(res, 404, 'Not found');
  }

  private handleCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('cdn', req);
    const url = new URL(req.url ?? '/', this.cdnOrigin);
    const hash = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)?.[1];
    for (const repo of this.repos) {
      for (const files of Object.values(repo.commits)) {
        const file = files.find((f) => f.lfs && sha256(f.content) === hash);
        if (file) return this.send(req, res, file.path, file.content);
      }
    }
    this.fail(res, 404, 'No such blob');
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, filePath: string, content: Buffer): void {
    let body = content;
    if (this.corrupt.has(filePath)) {
      body = Buffer.from(content);
      body[0] ^= 0xff;
    }
    res.writeHead(200, { 'Content-Length': String(body.length), 'Content-Type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private lookup(repoId: string, revision: string): { commit: string; files: MockFile[] } | undefined {
    const repo = this.repos.find((r) => r.id === repoId);
    if (!repo) return undefined;
    const commit = repo.branches[revision] ?? (repo.commits[revision] ? revision : undefined);
    return commit === undefined ? undefined : { commit, files: repo.commits[commit] };
  }

  private json(res: http.ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private fail(res: http.ServerResponse, status: number, message: string): void {
    res.writeHead(status, { 'X-Error-Message': message, 'Content-Type': 'text/plain' });
    res.end(message);
  }
}

/** The git-lfs pointer file a repository stores in place of an LFS file (its git blob is what `oid` hashes). */
function lfsPointer(content: Buffer): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`);
}
