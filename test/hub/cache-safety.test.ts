// The hub cache and client against a planted cache and a hostile hub: cached tree listings are checked
// as strictly as the hub's, nothing is written outside the cache folder, pagination stays on the
// endpoint's origin and ends, and abandoned partial downloads are swept.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { HubError, resolveModel } from '../../src/hub';
import { MAX_TREE_PAGES } from '../../src/hub/client';
import { gitBlobSha1, MockHub, type MockFile } from './mock-hub';

const COMMIT = 'c'.repeat(40);
const files: MockFile[] = [
  { path: 'config.json', content: Buffer.from('{"model_type": "qwen2"}') },
  { path: 'model.safetensors', content: Buffer.from('weights'), lfs: true },
];

let hub: MockHub;
let endpoint: string;
let scratch: string;
let cacheDir: string;
let repoRoot: string;

beforeAll(async () => {
  hub = new MockHub([{ id: 'Org/Tiny', branches: { main: COMMIT }, commits: { [COMMIT]: files } }]);
  endpoint = await hub.start();
});
afterAll(() => hub.stop());
beforeEach(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-hub-safety-'));
  cacheDir = path.join(scratch, 'cache');
  repoRoot = path.join(cacheDir, 'models--Org--Tiny');
  hub.requests.length = 0;
  hub.nextLink = undefined;
  hub.pageSize = 1;
  hub.requiredToken = undefined;
});
afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

const resolve = (extra: Record<string, unknown> = {}) =>
  resolveModel('Org/Tiny', { cacheDir, endpoint, offline: false, ...extra });
async function rejection(p: Promise<unknown>): Promise<HubError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HubError);
  return e as HubError;
}
function plantListing(entries: Record<string, unknown>): void {
  fs.mkdirSync(path.join(repoRoot, 'trees'), { recursive: true });
  fs.mkdirSync(path.join(repoRoot, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repoRoot, 'refs', 'main'), COMMIT);
  fs.writeFileSync(path.join(repoRoot, 'trees', `${COMMIT}.json`), JSON.stringify({ format_version: 1, files: entries }));
}
const good = { size: files[0].content.length, blob_id: gitBlobSha1(files[0].content) };

describe('a planted tree listing', () => {
  test.each([
    ['a path that climbs out of the snapshot', { '../../../../escaped.json': good, 'config.json': good }],
    ['an absolute path', { '/tmp/escaped.json': good }],
    ['a blob id that is a path', { 'config.json': { size: 5, blob_id: '../../../../escaped.json' } }],
    ['an LFS hash that is a path', { 'config.json': { ...good, lfs_sha256: '../../../escaped', lfs_size: 1 } }],
    ['a negative size', { 'config.json': { ...good, size: -1 } }],
  ])('with %s is ignored: the listing is fetched again and nothing is written outside the cache', async (_, entries) => {
    plantListing(entries);
    const dir = await resolve();
    expect(dir).toBe(path.join(repoRoot, 'snapshots', COMMIT));
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{"model_type": "qwen2"}');
    expect(hub.requests.some((r) => r.url.includes('/tree/'))).toBe(true);
    expect(fs.readdirSync(scratch)).toEqual(['cache']);
    expect(fs.readdirSync(cacheDir)).toEqual(['models--Org--Tiny']);
    expect(fs.existsSync(path.join(os.tmpdir(), 'escaped.json'))).toBe(false);
    // the cached listing is the hub's again
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(repoRoot, 'trees', `${COMMIT}.json`), 'utf8')).files).sort()).toEqual(
      ['config.json', 'model.safetensors'],
    );
  });

  test('a snapshot folder that is a symlink out of the cache is refused before anything is written through it', async () => {
    const outside = path.join(scratch, 'outside');
    fs.mkdirSync(outside);
    fs.mkdirSync(path.join(repoRoot, 'snapshots'), { recursive: true });
    fs.symlinkSync(outside, path.join(repoRoot, 'snapshots', COMMIT));
    const e = await rejection(resolve());
    expect(e.code).toBe('unsafe-cache');
    expect(e.message).toMatch(/outside the cache folder/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});

describe('pagination', () => {
  test('a next-page link to another origin is refused, and the token never goes there', async () => {
    const seen: string[] = [];
    const other = http.createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      res.end('[]');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (other.address() as AddressInfo).port;
      hub.nextLink = { rewrite: (next) => `http://127.0.0.1:${port}${next.pathname}${next.search}` };
      hub.requiredToken = 'secret-token';
      const e = await rejection(resolve({ token: 'secret-token' }));
      expect(e.code).toBe('bad-response');
      expect(e.message).toMatch(/refusing a next-page link to another origin/);
      expect(seen).toEqual([]);
    } finally {
      other.close();
    }
  });

  test(`a listing that never ends is cut off after ${MAX_TREE_PAGES} pages`, async () => {
    hub.nextLink = { rewrite: (next) => next.toString().replace(/cursor=\d+/, 'cursor=0'), always: true };
    const e = await rejection(resolve());
    expect(e.message).toMatch(new RegExp(`past ${MAX_TREE_PAGES} pages`));
    expect(hub.requests.filter((r) => r.url.includes('/tree/'))).toHaveLength(MAX_TREE_PAGES);
  });
});

test('abandoned partial downloads are swept; live ones and huggingface_hub’s resumable ones stay', async () => {
  const blobs = path.join(repoRoot, 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  const names = {
    dead: `${'a'.repeat(40)}.${deadPid}.x1.incomplete`,
    mine: `${'b'.repeat(40)}.${process.pid}.x2.incomplete`,
    python: `${'d'.repeat(64)}.incomplete`,
    oldPython: `${'e'.repeat(64)}.incomplete`,
  };
  for (const n of Object.values(names)) fs.writeFileSync(path.join(blobs, n), 'partial');
  const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3600_000);
  fs.utimesSync(path.join(blobs, names.oldPython), eightDaysAgo, eightDaysAgo);
  await resolve();
  const left = fs
    .readdirSync(blobs)
    .filter((n) => n.endsWith('.incomplete'))
    .sort();
  expect(left).toEqual([names.mine, names.python].sort());
});
