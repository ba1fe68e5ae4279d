#!/usr/bin/env node
// `npm run repl`: a Node REPL with the tensor library loaded as `torch` (from dist/torch) and, when
// built, the whole library as `lt` (dist/index.js). Build first with `npm run build`.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const repl = require('repl');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

function load(what, file) {
  try {
    return require(file);
  } catch (e) {
    const hint =
      fs.existsSync(file) || fs.existsSync(`${file}.js`)
        ? ''
        : ` (${path.relative(root, file)} is missing: run \`npm run build\`)`;
    console.error(`repl: could not load ${what}${hint}:\n${e && e.message}`);
    process.exit(1);
  }
}

const torch = load('the tensor library', path.join(dist, 'torch'));
const libraryFile = path.join(dist, 'index.js');
const lt = fs.existsSync(libraryFile) ? load('the library', libraryFile) : undefined;

const v = torch.version();
const device = torch.cuda.isAvailable() ? `cuda x${torch.cuda.deviceCount()}` : 'cpu only';
console.log(
  `latent-tokens REPL: torch (libtorch ${v.libtorch}, ${device}, ${torch.getNumThreads()} threads)${lt ? ', lt (the library)' : ''} loaded; try torch.randn([2, 3])`,
);

const server = repl.start({ prompt: 'lt> ', useGlobal: true });
server.context.torch = torch;
if (lt) server.context.lt = lt;
// Outside the checkout, so the repository stays clean; NODE_REPL_HISTORY as for `node` itself ('' turns it off).
const history = process.env.NODE_REPL_HISTORY ?? path.join(os.homedir(), '.latent_tokens_repl_history');
if (history)
  server.setupHistory(history, (err) => {
    if (err) console.error(`repl: no history (${err.message})`);
  });
