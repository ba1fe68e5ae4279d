#!/usr/bin/env node
// `npm run examples`: runs every examples/*.ts with ts-node, as a user would (`npx ts-node
// examples/<name>.ts`), in fast mode (LATENT_EXAMPLES_FAST=1) unless LATENT_EXAMPLES_FAST=0.
// CI runs this so that the examples cannot rot. Exits non-zero when any example fails.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'examples');
const only = process.argv.slice(2);
const examples = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'arith-setup.ts')
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.ts$/, '')))
  .sort();
const env = { ...process.env };
if (env.LATENT_EXAMPLES_FAST === '0') delete env.LATENT_EXAMPLES_FAST;
else env.LATENT_EXAMPLES_FAST = '1';
const tsNode = path.join(root, 'node_modules', 'ts-node', 'dist', 'bin.js');
const failed = [];
for (const f of examples) {
  const started = Date.now();
  process.stdout.write(`== examples/${f}\n`);
  const r = spawnSync(process.execPath, [tsNode, path.join('examples', f)], { cwd: root, env, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status === 0) process.stdout.write(`== examples/${f}: ok (${seconds} s)\n`);
  else {
    failed.push(f);
    process.stdout.write(`== examples/${f}: FAILED (exit ${r.status ?? r.signal}, ${seconds} s)\n`);
  }
}
if (failed.length) {
  console.error(`${failed.length} of ${examples.length} examples failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`${examples.length} examples ran`);
