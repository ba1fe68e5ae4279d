#!/usr/bin/env node
// Runs a benchmark written in TypeScript without a build step: `node bench/run.js core [options]`
// (or `npm run bench -- core [options]`) loads bench/core.ts and calls its exported `main(argv)`.
//
// TypeScript files (the bench and the library sources it imports) are compiled on require with
// typescript's transpileModule (no type checking: `npm run typecheck` does that), and the output is
// cached under build/bench-cache/ by content hash, because the generated operator layer
// (src/torch/generated/ops.ts) takes seconds to transpile.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const ROOT = path.resolve(__dirname, '..');
const CACHE_DIR = path.join(ROOT, 'build', 'bench-cache');
// typescript.js is large (seconds of parsing and compiling on a small machine, competing with the first
// measurements): it is loaded only when a file is not in the cache, which is keyed by its version.
const TS_VERSION = require('typescript/package.json').version;
const COMPILER_OPTIONS = { module: 'commonjs', target: 'es2022', esModuleInterop: true, inlineSourceMap: true };
const OPTIONS_KEY = crypto
  .createHash('sha1')
  .update(TS_VERSION + JSON.stringify(COMPILER_OPTIONS))
  .digest('hex');

function transpile(source, filename) {
  const key = crypto.createHash('sha1').update(OPTIONS_KEY).update(filename).update(source).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not cached yet
  }
  const ts = require('typescript');
  const options = ts.convertCompilerOptionsFromJson(COMPILER_OPTIONS, ROOT).options;
  const out = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: true });
  const syntaxErrors = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (syntaxErrors.length) {
    const text = ts.formatDiagnostics(syntaxErrors, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => '\n',
    });
    throw new SyntaxError(`bench/run.js: cannot compile ${path.relative(ROOT, filename)}:\n${text}`);
  }
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  // Write-then-rename so that two concurrent runs never read a half-written file.
  const tmp = `${cached}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out.outputText);
  fs.renameSync(tmp, cached);
  return out.outputText;
}

/** Makes `require` load .ts files (compiled as CommonJS). Safe to call more than once. */
function registerTypeScript() {
  if (require.extensions['.ts']) return;
  process.setSourceMapsEnabled(true);
  require.extensions['.ts'] = (module, filename) => {
    module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
  };
}

function availableBenchmarks() {
  return fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function usage() {
  const names = availableBenchmarks();
  return (
    'usage: node bench/run.js <benchmark> [options]   (npm run bench -- <benchmark> [options])\n' +
    `benchmarks: ${names.length ? names.join(', ') : '(none found in bench/)'}\n` +
    'options: see `node bench/run.js <benchmark> --help`'
  );
}

async function main() {
  const [name, ...argv] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    process.exit(name ? 0 : 2);
  }
  const file = path.join(__dirname, `${name}.ts`);
  if (!/^[\w-]+$/.test(name) || !fs.existsSync(file)) {
    console.error(`bench/run.js: no benchmark named "${name}" (expected ${path.relative(ROOT, file)})\n${usage()}`);
    process.exit(2);
  }
  registerTypeScript();
  const bench = require(file);
  if (typeof bench.main !== 'function') {
    console.error(`bench/run.js: ${path.relative(ROOT, file)} must export \`main(argv: string[]): Promise<void> | void\``);
    process.exit(2);
  }
  await bench.main(argv);
}

if (require.main === module) {
  main().catch((err) => {
    // Bad command-line options get their message only; anything else its stack.
    if (err && err.name === 'UsageError') {
      console.error(`bench: ${err.message}`);
      process.exit(2);
    }
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
}

module.exports = { registerTypeScript, transpile };
