#!/usr/bin/env node
// Builds the addon with cmake-js against the libtorch recorded in .torch-env.json (Release; Ninja and
// ccache when present). Incremental: editing one .cc file rebuilds that file only.
'use strict';

const path = require('path');
const fs = require('fs');
const { spawnSync } = require('child_process');
const { readEnv, resolveTorch, writeEnv, ROOT, log } = require('./torch-env');

let env = readEnv();
if (!env || !fs.existsSync(env.libtorch)) {
  env = resolveTorch();
  writeEnv(env);
}
const prefix = env.libtorch;
const defs = [`CMAKE_PREFIX_PATH=${prefix};${path.join(prefix, 'share', 'cmake')}`, 'CMAKE_BUILD_TYPE=Release'];
if (env.cuda) {
  const cudaRoot = process.env.CUDA_HOME || '/usr/local/cuda';
  defs.push(`CUDA_TOOLKIT_ROOT_DIR=${cudaRoot}`, `CMAKE_CUDA_COMPILER=${path.join(cudaRoot, 'bin', 'nvcc')}`);
  defs.push(`CMAKE_CUDA_ARCHITECTURES=${process.env.LT_CUDA_ARCHS || '80;90'}`);
  // torch's own arch detection needs a GPU; CUDA 13 supports sm_75 and newer.
  process.env.TORCH_CUDA_ARCH_LIST = process.env.TORCH_CUDA_ARCH_LIST || '8.0;9.0';
}
if (process.env.LT_DISABLE_CUDA === '1') defs.push('LT_DISABLE_CUDA=ON');

// One build at a time in this checkout (parallel builds would race in build/).
const lockDir = path.join(ROOT, 'build', '.lock');
fs.mkdirSync(path.dirname(lockDir), { recursive: true });
const started = Date.now();
for (;;) {
  try {
    fs.mkdirSync(lockDir);
    break;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
    const age = Date.now() - fs.statSync(lockDir).mtimeMs;
    if (age > 15 * 60 * 1000)
      fs.rmSync(lockDir, { recursive: true, force: true }); // left by a killed build
    else if (Date.now() - started > 20 * 60 * 1000) throw new Error(`build lock ${lockDir} held too long`, { cause: e });
    else spawnSync('sleep', ['1']);
  }
}
process.on('exit', () => fs.rmSync(lockDir, { recursive: true, force: true }));

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'build', '--log-level', 'warn', ...defs.map((d) => `--CD${d}`)];
if (process.env.LT_PARALLEL) args.push('--parallel', process.env.LT_PARALLEL);
log(`building the addon against libtorch ${env.version} (${env.cuda ? 'CUDA ' + env.cuda : 'CPU'}) at ${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  log('native build failed (see the compiler output above)');
  process.exit(r.status || 1);
}
