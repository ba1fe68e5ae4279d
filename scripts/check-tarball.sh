#!/usr/bin/env bash
# The package as a user installs it: `npm pack`, then `npm install <tarball>` in an empty project
# (its install script finds or installs libtorch and builds the addon there), then require it and run
# a tensor op and the CLI. Also checks that the tarball ships no tests, benchmarks, CI or run folders.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
listing=$(tar -tzf "$work/$tarball")
if echo "$listing" | grep -E '^package/(test|bench|\.ci|whole|runs|examples)/' >/dev/null; then
  echo "the tarball ships files it should not:"; echo "$listing" | grep -E '^package/(test|bench|\.ci|whole|runs|examples)/' | head; exit 1
fi
mkdir -p "$work/consumer"
cd "$work/consumer"
npm init -y >/dev/null
# A dependency does not get the test suite's Python packages (LATENT_DEV_PACKAGES unset).
env -u LATENT_DEV_PACKAGES npm install --no-audit --no-fund "$work/$tarball"
python=node_modules/latent-tokens/.venv/bin/python
if [ -x "$python" ] && "$python" -c "import transformers" 2>/dev/null; then
  echo "the dependency's .venv has transformers: the test suite's packages must not be installed for a dependency"; exit 1
fi
node -e "
const lt = require('latent-tokens');
const torch = require('latent-tokens/torch');
for (const k of ['torch', 'models', 'data', 'latent', 'train', 'rl', 'report', 'hub', 'distributed', 'demo']) if (!lt[k]) throw new Error('latent-tokens has no ' + k);
const s = torch.tensor([1, 2, 3], { dtype: 'float32' }).sum().item();
if (s !== 6) throw new Error('sum was ' + s);
console.log('latent-tokens from the tarball: require works, torch.tensor([1,2,3]).sum() = ' + s);
"
npx latent version
