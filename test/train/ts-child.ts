// Runs a TypeScript file of this repository in a separate Node process (for tests that must kill a
// process mid-operation). The child compiles .ts files on the fly with the TypeScript compiler
// (transpile only, cached by content hash under the OS temp directory).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

const REGISTER = String.raw`
const fs = require('fs'), path = require('path'), crypto = require('crypto'), ts = require('typescript');
const cacheDir = path.join(require('os').tmpdir(), 'lt-ts-child-cache');
fs.mkdirSync(cacheDir, { recursive: true });
require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha1').update(filename + '\0' + source).digest('hex');
  const cached = path.join(cacheDir, key + '.js');
  let code;
  try { code = fs.readFileSync(cached, 'utf8'); } catch {
    code = ts.transpileModule(source, { fileName: filename, compilerOptions: {
      module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    const tmp = cached + '.' + process.pid;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  }
  module._compile(code, filename);
};
require(path.resolve(process.argv[1]));
`;

/** Runs `script` (a .ts path) with `args` (and Node flags `nodeArgs`); returns the finished process (status, signal, output). */
export function runTsChild(
  script: string,
  args: string[],
  { timeoutMs = 120_000, nodeArgs = [] as string[] } = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...nodeArgs, '-e', REGISTER, path.resolve(script), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    cwd: path.resolve(__dirname, '..', '..'),
    env: { ...process.env, OMP_NUM_THREADS: '1', TMPDIR: process.env.TMPDIR ?? os.tmpdir() },
  });
}
