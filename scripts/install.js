#!/usr/bin/env node
// `npm install` entry: find or install libtorch, build the addon, compile the TypeScript.
'use strict';

const path = require('path');
const fs = require('fs');
const { spawnSync } = require('child_process');
const { resolveTorch, writeEnv, ROOT, log } = require('./torch-env');

function step(name, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    log(`${name} failed`);
    process.exit(r.status || 1);
  }
}

let info;
try {
  info = resolveTorch();
} catch (e) {
  log(e.message);
  process.exit(1);
}
writeEnv(info);
log(`libtorch ${info.version} from ${info.source}: ${info.libtorch}`);
step('native build', process.execPath, [path.join(__dirname, 'build-native.js')]);
const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
if (fs.existsSync(tsc) && fs.existsSync(path.join(ROOT, 'src')))
  step('TypeScript build', process.execPath, [tsc, '-p', 'tsconfig.build.json']);
