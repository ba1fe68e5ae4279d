import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_MODEL_FILES, type DownloadProgress, HubError, resolveModel } from '../../src/hub';
import { gitBlobSha1, MockHub, type MockFile, sha256 } from './mock-hub';
import { findPythonWith, runPythonAsync } from './python';

const COMMIT_1 = '1'.repeat(40);
const COMMIT_2 = '2'.repeat(40);
const OTHER_COMMIT = 'a'.repeat(40);

const text = (s: string): Buffer => Buffer.from(s);
const weights = (seed: number, bytes: number): Buffer =>
  Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff));

const shardIndex = JSON.stringify({
  metadata: { total_size: 3072 },
  weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors' },
});
const modelFiles: MockFile[] = [
  { path: '.gitattributes', content: text('*.safetensors filter=lfs\n') },
  { path: 'README.md', content: text('# tiny\n') },
  { path: 'config.json', content: text('{"model_type": "qwen2", "hidden_size": 8}') },
  { path: 'generation_config.json', content: text('{"eos_token_id": 2}') },
  { path: 'tokenizer.json', content: text('{"model": {}}') },
  { path: 'tokenizer_config.json', content: text('{"eos_token": "</s>"}') },
  { path: 'model.safetensors.index.json', content: text(shardIndex) },
  { path: 'model-00001-of-00002.safetensors', content: weights(1, 2048), lfs: true },
  { path: 'model-00002-of-00002.safetensors', content: weights(2, 1024), lfs: true },
  { path: 'pytorch_model.bin', content: weights(3, 512), lfs: true },
];
const wantedFiles = modelFiles.filter(
  (f) => f.path !== '.gitattributes' && f.path !== 'README.md' && f.path !== 'pytorch_model.bin',
);
// main moves to COMMIT_2, where only config.json changed.
const updatedFiles = modelFiles.map((f) =>
  f.path === 'config.json' ? { ...f, content: text('{"model_type": "qwen2", "hidden_size": 16}') } : f,
);

let hub: MockHub;
let endpoint: string;
let scratch: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  hub = new MockHub([
    { id: 'Org/Tiny', branches: { main: COMMIT_1 }, commits: { [COMMIT_1]: modelFiles, [COMMIT_2]: updatedFiles } },
    { id: 'Org/Other', branches: { main: OTHER_COMMIT }, commits: { [OTHER_COMMIT]: wantedFiles.slice(0, 4) } },
  ]);
  endpoint = await hub.start();
});

afterAll(async () => {
  await hub.stop();
});

beforeEach(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-hub-'));
  // Isolate from the machine's Hugging Face setup: no real cache, token or offline flag.
  for (const key of [
    'HF_HUB_CACHE',
    'HUGGINGFACE_HUB_CACHE',
    'HF_ENDPOINT',
    'HF_TOKEN',
    'HUGGING_FACE_HUB_TOKEN',
    'HF_HUB_OFFLINE',
    'HF_TOKEN_PATH',
  ]) {
    delete process.env[key];
  }
  process.env.HF_HOME = path.join(scratch, 'hf-home');
  hub.requests.length = 0;
  hub.requiredToken = undefined;
  hub.corrupt.clear();
  hub.failOnce.clear();
  hub.repos[0].branches.main = COMMIT_1;
});

afterEach(() => {
  process.env = { ...savedEnv };
  fs.rmSync(scratch, { recursive: true, force: true });
});

const cacheDir = (): string => path.join(scratch, 'cache');
const repoRoot = (repo = 'Org/Tiny'): string => path.join(cacheDir(), `models--${repo.replace('/', '--')}`);
const expectHubError = async (promise: Promise<unknown>, code: string): Promise<HubError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubError);
  expect((error as HubError).code).toBe(code);
  return error as HubError;
};

describe('local paths', () => {
  test('an existing directory is returned as is, absolute', async () => {
    const dir = path.join(scratch, 'my-model');
    fs.mkdirSync(dir);
    await expect(resolveModel(dir)).resolves.toBe(dir);
    const relative = path.relative(process.cwd(), dir);
    await expect(resolveModel(relative)).resolves.toBe(dir);
    expect(hub.requests).toHaveLength(0);
  });

  test('missing paths, files and malformed ids fail clearly without contacting the hub', async () => {
    const missing = await expectHubError(resolveModel('./no-such-model-dir'), 'invalid-id');
    expect(missing.message).toContain('model directory not found');
    const file = path.join(scratch, 'config.json');
    fs.writeFileSync(file, '{}');
    expect((await expectHubError(resolveModel(file), 'invalid-id')).message).toContain('is a file');
    expect((await expectHubError(resolveModel('a/b/c'), 'invalid-id')).message).toContain('"Org/Name"');
    expect(hub.requests).toHaveLength(0);
  });
});

describe('downloading into the Hugging Face cache layout', () => {
  test('fetches only the model files, as huggingface_hub lays them out, with progress', async () => {
    hub.requiredToken = 'hf_secret';
    const progress: DownloadProgress[] = [];
    const dir = await resolveModel('Org/Tiny', {
      cacheDir: cacheDir(),
      endpoint,
      token: 'hf_secret',
      onProgress: (p) => progress.push(p),
    });

    expect(dir).toBe(path.join(repoRoot(), 'snapshots', COMMIT_1));
    expect(fs.readFileSync(path.join(repoRoot(), 'refs', 'main'), 'utf8')).toBe(COMMIT_1);
    expect(fs.readdirSync(dir).sort()).toEqual(wantedFiles.map((f) => f.path).sort());
    for (const file of wantedFiles) {
      const link = path.join(dir, file.path);
      const blob = file.lfs ? sha256(file.content) : gitBlobSha1(file.content);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(path.join('..', '..', 'blobs', blob));
      expect(fs.readFileSync(link).equals(file.content)).toBe(true);
    }
    // Only finished blobs remain: no temporary or partial files.
    expect(fs.readdirSync(path.join(repoRoot(), 'blobs')).sort()).toEqual(
      wantedFiles.map((f) => (f.lfs ? sha256(f.content) : gitBlobSha1(f.content))).sort(),
    );
    // The tree listing is cached in huggingface_hub's format, and the paginated listing was read completely.
    const tree = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'trees', `${COMMIT_1}.json`), 'utf8'));
    expect(tree.format_version).toBe(1);
    expect(Object.keys(tree.files)).toHaveLength(modelFiles.length);
    expect(tree.files['model-00001-of-00002.safetensors']).toMatchObject({
      size: 2048,
      lfs_sha256: sha256(modelFiles[7].content),
    });

    // LFS files came from the CDN, which must not receive the hub token.
    expect(hub.requestsTo('cdn').map((r) => r.authorization)).toEqual([undefined, undefined]);
    expect(hub.requestsTo('hub').every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
    expect(hub.requests.some((r) => r.url.includes('pytorch_model.bin'))).toBe(false);

    const byFile = new Map<string, DownloadProgress[]>();
    for (const p of progress) byFile.set(p.file, [...(byFile.get(p.file) ?? []), p]);
    expect([...byFile.keys()].sort()).toEqual(wantedFiles.map((f) => f.path).sort());
    for (const [file, events] of byFile) {
      const size = wantedFiles.find((f) => f.path === file)!.content.length;
      expect(events[0]).toMatchObject({ phase: 'start', loadedBytes: 0, totalBytes: size, fileCount: wantedFiles.length });
      expect(events[events.length - 1]).toMatchObject({ phase: 'done', loadedBytes: size });
    }
  });

  test('a complete cached snapshot is used without contacting the hub; refresh follows a moved branch', async () => {
    await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
    hub.requests.length = 0;
    await expect(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint })).resolves.toContain(COMMIT_1);
    expect(hub.requests).toHaveLength(0);

    hub.repos[0].branches.main = COMMIT_2;
    const dir = await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint, refresh: true });
    expect(dir).toBe(path.join(repoRoot(), 'snapshots', COMMIT_2));
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toContain('"hidden_size": 16');
    // Unchanged files reuse their blobs: only the new config.json was downloaded.
    const downloads = hub.requests.filter((r) => r.url.includes('/resolve/') || r.server === 'cdn');
    expect(downloads.map((r) => r.url)).toEqual([`/Org/Tiny/resolve/${COMMIT_2}/config.json`]);
    expect(fs.readFileSync(path.join(repoRoot(), 'refs', 'main'), 'utf8')).toBe(COMMIT_2);
  });

  test('a commit hash revision needs no revision lookup', async () => {
    const dir = await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint, revision: COMMIT_2 });
    expect(dir).toBe(path.join(repoRoot(), 'snapshots', COMMIT_2));
    expect(hub.requests.some((r) => r.url.includes('/revision/'))).toBe(false);
    expect(fs.existsSync(path.join(repoRoot(), 'refs'))).toBe(false);
  });

  test('HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE are honoured', async () => {
    hub.requiredToken = 'hf_env_token';
    process.env.HF_ENDPOINT = endpoint;
    process.env.HF_HUB_CACHE = cacheDir();
    const unauthorized = await expectHubError(resolveModel('Org/Other'), 'unauthorized');
    expect(unauthorized.message).toContain('HF_TOKEN');
    process.env.HF_TOKEN = 'hf_env_token';
    await expect(resolveModel('Org/Other')).resolves.toBe(path.join(repoRoot('Org/Other'), 'snapshots', OTHER_COMMIT));
  });

  test('unknown repositories and patterns matching nothing are reported', async () => {
    const notFound = await expectHubError(resolveModel('Org/Missing', { cacheDir: cacheDir(), endpoint }), 'not-found');
    expect(notFound.message).toContain('"Org/Missing"');
    expect(notFound.message).toContain('no local directory "Org/Missing" either');
    const none = await expectHubError(
      resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint, allowPatterns: ['*.gguf'] }),
      'no-files',
    );
    expect(none.message).toContain('config.json');
  });

  test('a corrupt download leaves nothing behind and the next call completes the snapshot', async () => {
    hub.corrupt.add('model-00002-of-00002.safetensors');
    const corrupt = await expectHubError(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint }), 'integrity');
    expect(corrupt.message).toContain('sha256 mismatch');
    const blobs = fs.readdirSync(path.join(repoRoot(), 'blobs'));
    expect(blobs.some((b) => b.includes('.incomplete') || b.includes('.tmp'))).toBe(false);
    expect(blobs).not.toContain(sha256(modelFiles[8].content));
    expect(fs.existsSync(path.join(repoRoot(), 'snapshots', COMMIT_1, 'model-00002-of-00002.safetensors'))).toBe(false);

    // Offline, the listing shows the snapshot is incomplete: refuse it, naming the missing file.
    const offline = await expectHubError(resolveModel('Org/Tiny', { cacheDir: cacheDir(), offline: true }), 'offline-not-cached');
    expect(offline.message).toContain('missing model-00002-of-00002.safetensors');

    hub.corrupt.clear();
    hub.requests.length = 0;
    await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
    expect(hub.requestsTo('cdn').map((r) => r.url)).toEqual([expect.stringContaining(sha256(modelFiles[8].content))]);
  });

  test('transient server errors are retried', async () => {
    hub.failOnce.add('config.json');
    await resolveModel('Org/Other', { cacheDir: cacheDir(), endpoint });
    expect(hub.requests.filter((r) => r.url.endsWith('/config.json'))).toHaveLength(2);
  });
});

describe('offline mode', () => {
  test('with nothing cached: a clear error saying so and how to fix it', async () => {
    process.env.HF_HUB_OFFLINE = '1';
    const error = await expectHubError(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint }), 'offline-not-cached');
    expect(error.message).toContain('not in the Hugging Face cache');
    expect(error.message).toContain('HF_HUB_OFFLINE');
    expect(error.message).toContain('huggingface-cli download Org/Tiny');
    expect(error.message).toContain('local directory');
    expect(hub.requests).toHaveLength(0);
  });

  test('with a complete snapshot: served from the cache', async () => {
    await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
    hub.requests.length = 0;
    process.env.HF_HUB_OFFLINE = 'true';
    await expect(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint })).resolves.toContain(COMMIT_1);
    expect(hub.requests).toHaveLength(0);
  });

  test('a snapshot without a cached listing (older huggingface_hub) is judged by its files', async () => {
    const dir = await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
    fs.rmSync(path.join(repoRoot(), 'trees'), { recursive: true });
    await expect(resolveModel('Org/Tiny', { cacheDir: cacheDir(), offline: true })).resolves.toBe(dir);
    // A shard named by the index is missing: not usable.
    fs.rmSync(path.join(dir, 'model-00001-of-00002.safetensors'));
    const error = await expectHubError(resolveModel('Org/Tiny', { cacheDir: cacheDir(), offline: true }), 'offline-not-cached');
    expect(error.message).toContain('model-00001-of-00002.safetensors');
  });
});

test('an unreachable hub falls back to a cached snapshot that looks whole, and fails clearly otherwise', async () => {
  const dir = await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
  fs.rmSync(path.join(repoRoot(), 'trees'), { recursive: true }); // no listing: not known to be complete
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  await expect(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint: deadEndpoint })).resolves.toBe(dir);
  const error = await expectHubError(resolveModel('Org/Other', { cacheDir: cacheDir(), endpoint: deadEndpoint }), 'network');
  expect(error.message).toContain(`cannot reach ${deadEndpoint}`);
  await expectHubError(resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint, revision: '../x' }), 'invalid-id');
});

describe('compatibility with Python huggingface_hub', () => {
  const { python, reason } = findPythonWith(['huggingface_hub']);
  const testWithPython = python ? test : test.skip;
  if (!python) console.log(`skipping huggingface_hub cross-checks: ${reason}`);

  testWithPython('each finds the snapshots the other downloaded', async () => {
    await resolveModel('Org/Tiny', { cacheDir: cacheDir(), endpoint });
    const script = `
import json, os
from huggingface_hub import snapshot_download, hf_hub_download
cache = os.environ["CACHE"]
ours = snapshot_download("Org/Tiny", local_files_only=True, cache_dir=cache, allow_patterns=json.loads(os.environ["PATTERNS"]))
config = hf_hub_download("Org/Tiny", "config.json", local_files_only=True, cache_dir=cache)
theirs = snapshot_download("Org/Other", cache_dir=cache)
print(json.dumps({"ours": ours, "config": config, "theirs": theirs}))
`;
    const result = (await runPythonAsync(python!, script, {
      ...process.env,
      CACHE: cacheDir(),
      PATTERNS: JSON.stringify(DEFAULT_MODEL_FILES),
      HF_ENDPOINT: endpoint,
      HF_HUB_DISABLE_XET: '1',
      HF_HUB_DISABLE_TELEMETRY: '1',
    })) as { ours: string; config: string; theirs: string };
    expect(result.ours).toBe(path.join(repoRoot(), 'snapshots', COMMIT_1));
    expect(fs.readFileSync(result.config, 'utf8')).toBe(modelFiles[2].content.toString());
    expect(hub.requests.some((r) => r.url.startsWith('/Org/Other/resolve/'))).toBe(true); // Python really used the mock hub

    hub.requests.length = 0;
    const ourView = await resolveModel('Org/Other', { cacheDir: cacheDir(), offline: true });
    expect(ourView).toBe(result.theirs);
    for (const file of wantedFiles.slice(0, 4))
      expect(fs.readFileSync(path.join(ourView, file.path)).equals(file.content)).toBe(true);
    expect(hub.requests).toHaveLength(0);
  });
});
