#!/usr/bin/env bash
# Builds the addon with node-gyp (binding.gyp) in a scratch copy, so the CMake build in build/ is left
# alone, and checks that the result loads and runs an operator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/binding.gyp" "$root/native" "$root/.torch-env.json" "$work/"
cd "$work"
node "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="${NODEDIR:-/usr}" -j "${JOBS:-2}" >"$work/gyp.log" 2>&1 || { tail -50 "$work/gyp.log"; exit 1; }
node -e "
const a = require('$work/build/Release/latent_tokens.node');
const h = a.fromBytes(new Float32Array([1, 2, 3]), 'float32', [3]);
const s = a.callOp(a.resolveOp('aten::sum', ''), h);
if (a.item(s) !== 6) throw new Error('node-gyp build computed ' + a.item(s));
console.log('node-gyp build OK: libtorch', a.version().libtorch);
"
