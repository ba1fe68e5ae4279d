// Finds libtorch, or installs one into a project-local Python environment, and records the choice in
// .torch-env.json (read by the native build, the operator generator and the Python reference tests).
//
// Order: $LIBTORCH (an unpacked libtorch, e.g. the official zip) -> $LIBTORCH_USE_PYTORCH=1 or a torch
// importable by python3 -> a project-local .venv with `pip install $LATENT_TORCH` (default the CPU
// build torch==2.13.0+cpu; LATENT_TORCH=cuda selects torch==2.14.1 with its CUDA 13 wheels).
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const ENV_FILE = path.join(ROOT, '.torch-env.json');
const VENV = path.join(ROOT, '.venv');

const CPU_REQUIREMENT = 'torch==2.13.0+cpu';
// The CUDA wheel's dependency on cuda-bindings cannot be resolved offline; its runtime wheels are named.
const CUDA_PACKAGES = [
  'torch==2.14.1',
  'nvidia-cublas',
  'nvidia-cuda-nvrtc',
  'nvidia-cudnn-cu13',
  'nvidia-nvtx',
  'nvidia-cuda-runtime',
  'nvidia-cuda-cupti',
  'nvidia-cufft',
  'nvidia-curand',
  'nvidia-cusolver',
  'nvidia-cusparse',
  'nvidia-cusparselt-cu13',
  'nvidia-nccl-cu13',
  'nvidia-nvjitlink',
  'nvidia-nvshmem-cu13',
  'nvidia-cufile',
];
// Used by the test suite's independent references (Hugging Face transformers' Qwen2, safetensors).
const REFERENCE_PACKAGES = ['numpy', 'safetensors', 'transformers'];

/**
 * Whether to install the reference packages: for development only (about 1 GB). LATENT_DEV_PACKAGES=1
 * or 0 decides (.ci/run sets 1); otherwise a checkout gets them and a package installed as a
 * dependency (inside a node_modules folder) does not.
 */
function wantReferencePackages() {
  const v = process.env.LATENT_DEV_PACKAGES;
  if (v === '1' || v === '0') return v === '1';
  return !ROOT.split(path.sep).includes('node_modules');
}

const log = (msg) => process.stderr.write(`latent-tokens: ${msg}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

const PROBE = `import json, os, sys, torch
print(json.dumps({"prefix": os.path.dirname(torch.__file__), "version": torch.__version__, "cuda": torch.version.cuda, "python": sys.executable}))`;

function probePython(python) {
  const r = run(python, ['-c', PROBE]);
  if (!r.ok) return null;
  try {
    const info = JSON.parse(r.stdout.trim().split('\n').pop());
    return { libtorch: info.prefix, version: info.version, cuda: info.cuda, python: info.python, source: `python (${python})` };
  } catch {
    return null;
  }
}

function fromLibtorchDir(dir) {
  const cfg = path.join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (!fs.existsSync(cfg))
    throw new Error(`LIBTORCH=${dir} is not a libtorch directory (no share/cmake/Torch/TorchConfig.cmake)`);
  let version = 'unknown';
  const vfile = path.join(dir, 'build-version');
  if (fs.existsSync(vfile)) version = fs.readFileSync(vfile, 'utf8').trim();
  const cuda = fs.readdirSync(path.join(dir, 'lib')).some((f) => f.startsWith('libtorch_cuda'));
  return { libtorch: dir, version, cuda: cuda ? 'yes' : null, python: null, source: 'LIBTORCH' };
}

function pipIndexArgs() {
  // pip.conf may name local indexes; passing them as the index avoids slow retries of an unreachable public index.
  const r = run('python3', ['-m', 'pip', 'config', 'list']);
  const args = ['--retries', '1', '--timeout', '20'];
  const m = /extra-index-url='([^']+)'/.exec(r.stdout);
  if (m) {
    const urls = m[1].split(/\s+/).filter(Boolean);
    args.push('--index-url', urls[0]);
    for (const u of urls.slice(1)) args.push('--extra-index-url', u);
  }
  return args;
}

function installIntoVenv() {
  const choice = process.env.LATENT_TORCH || 'cpu';
  const python = path.join(VENV, 'bin', 'python');
  if (!fs.existsSync(python)) {
    log(`creating a Python environment in ${VENV}`);
    const r = run('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    if (!r.ok) throw new Error('python3 -m venv failed (install python3-venv)');
  }
  const index = pipIndexArgs();
  const pip = (args) =>
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', ...index, ...args], { stdio: 'inherit' });
  let ok;
  if (choice === 'cuda') {
    log('installing torch 2.14.1 (CUDA 13) and its nvidia wheels (several GB)');
    ok =
      pip(['--no-deps', ...CUDA_PACKAGES]).ok &&
      pip(['filelock', 'typing-extensions', 'sympy', 'networkx', 'jinja2', 'fsspec']).ok;
  } else {
    const req = choice === 'cpu' ? CPU_REQUIREMENT : choice;
    log(`installing ${req} into ${VENV}`);
    ok = pip([req]).ok;
  }
  if (!ok) return null;
  if (wantReferencePackages() && !pip(REFERENCE_PACKAGES).ok)
    log('warning: could not install the test reference packages (numpy, safetensors, transformers)');
  return probePython(python);
}

function resolveTorch({ allowInstall = true } = {}) {
  if (process.env.LIBTORCH) return fromLibtorchDir(path.resolve(process.env.LIBTORCH));
  const venvPython = path.join(VENV, 'bin', 'python');
  if (fs.existsSync(venvPython)) {
    const info = probePython(venvPython);
    if (info) return info;
  }
  if (process.env.LIBTORCH_USE_PYTORCH === '1' || !allowInstall) {
    const info = probePython(process.env.LT_PYTHON || 'python3');
    if (info) return info;
    if (process.env.LIBTORCH_USE_PYTORCH === '1') throw new Error('LIBTORCH_USE_PYTORCH=1 but `python3 -c "import torch"` fails');
  } else {
    const info = probePython('python3');
    if (info) return info;
  }
  if (!allowInstall) return null;
  const info = installIntoVenv();
  if (info) return info;
  throw new Error(
    'no libtorch found and none could be installed. Options:\n' +
      '  - LIBTORCH=/path/to/libtorch (an unpacked libtorch 2.x, e.g. the official CUDA zip)\n' +
      '  - LIBTORCH_USE_PYTORCH=1 with a python3 that can `import torch`\n' +
      '  - a working `python3 -m pip` that can install torch (LATENT_TORCH=cpu | cuda | <pip requirement>)',
  );
}

function readEnv() {
  return fs.existsSync(ENV_FILE) ? JSON.parse(fs.readFileSync(ENV_FILE, 'utf8')) : null;
}

function writeEnv(info) {
  fs.writeFileSync(ENV_FILE, JSON.stringify(info, null, 2) + '\n');
}

module.exports = { resolveTorch, readEnv, writeEnv, ROOT, ENV_FILE, log };
