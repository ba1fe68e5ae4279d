import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { downloadGsm8k, loadGsm8k } from '../../../src/data/gsm8k';
import { jsonl, scratchDir } from './fixtures';

const tempDir = scratchDir();

describe('downloadGsm8k', () => {
  const trainText = jsonl({ question: 'A?', answer: 'a 1+1=<<1+1=2>>2\n#### 2' }, { question: 'B?', answer: 'b\n#### 3' });
  const testText = jsonl({ question: 'C?', answer: 'c\n#### 4' });
  let server: http.Server;
  let baseUrl: string;
  const requests: string[] = [];
  let routes: Record<string, { status: number; body: string } | 'hang'>;

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      requests.push(request.url ?? '');
      const route = routes[request.url ?? ''];
      if (route === 'hang') return; // never answers
      const { status, body } = route ?? { status: 404, body: 'Not Found' };
      response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    requests.length = 0;
    routes = { '/data/train.jsonl': { status: 200, body: trainText }, '/data/test.jsonl': { status: 200, body: testText } };
  });

  const leftovers = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));

  test('downloads both splits into a new directory, loadable afterwards', async () => {
    const dest = path.join(tempDir(), 'nested', 'gsm8k');
    const result = await downloadGsm8k(dest, { baseUrl: `${baseUrl}/` });
    expect(result.downloaded).toEqual(['train', 'test']);
    expect(result.files).toEqual({ train: path.join(dest, 'train.jsonl'), test: path.join(dest, 'test.jsonl') });
    expect(fs.readFileSync(result.files.train!, 'utf8')).toBe(trainText);
    expect(fs.readFileSync(result.files.test!, 'utf8')).toBe(testText);
    expect(leftovers(dest)).toEqual([]);
    expect(requests).toEqual(['/data/train.jsonl', '/data/test.jsonl']);
    expect(loadGsm8k(dest, { split: 'train' }).examples.map((e) => e.answerNumber)).toEqual([2, 3]);
  });

  test('keeps existing files unless asked to overwrite', async () => {
    fs.writeFileSync(path.join(tempDir(), 'train.jsonl'), 'old');
    const kept = await downloadGsm8k(tempDir(), { baseUrl });
    expect(kept).toMatchObject({ downloaded: ['test'], kept: ['train'] });
    expect(fs.readFileSync(path.join(tempDir(), 'train.jsonl'), 'utf8')).toBe('old');
    const replaced = await downloadGsm8k(tempDir(), { baseUrl, overwrite: true, splits: ['train'] });
    expect(replaced).toMatchObject({ downloaded: ['train'], kept: [] });
    expect(fs.readFileSync(path.join(tempDir(), 'train.jsonl'), 'utf8')).toBe(trainText);
  });

  test('HTTP errors name the URL and status and write nothing', async () => {
    delete routes['/data/test.jsonl'];
    await expect(downloadGsm8k(tempDir(), { baseUrl })).rejects.toThrow(`Could not download ${baseUrl}/test.jsonl: HTTP 404`);
    expect(fs.readdirSync(tempDir())).toEqual(['train.jsonl']);
  });

  test('content that is not GSM8K (an HTML page) is refused', async () => {
    routes['/data/train.jsonl'] = { status: 200, body: '<html>\n<body>Sign in to the network</body>\n</html>\n' };
    await expect(downloadGsm8k(tempDir(), { baseUrl })).rejects.toThrow(/is not GSM8K JSONL .*invalid-json: 3/);
    expect(fs.readdirSync(tempDir())).toEqual([]);
  });

  test('an unreachable host gives a clear offline error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(downloadGsm8k(tempDir(), { baseUrl: `http://127.0.0.1:${port}` })).rejects.toThrow(
      /Could not download http:\/\/127\.0\.0\.1:\d+\/train\.jsonl \(ECONNREFUSED\): the network or host is unreachable \(offline\?\)/,
    );
    expect(fs.readdirSync(tempDir())).toEqual([]);
  });

  test('a server that never answers times out', async () => {
    routes['/data/train.jsonl'] = 'hang';
    await expect(downloadGsm8k(tempDir(), { baseUrl, timeoutMs: 200 })).rejects.toThrow(/\(TimeoutError\): .*offline/);
    expect(fs.readdirSync(tempDir())).toEqual([]);
  });
});
