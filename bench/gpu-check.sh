#!/usr/bin/env bash
# GPU check, everything in one run of at most 8 minutes on a machine with one GPU: builds the addon
# against that machine's own Python torch, runs the CUDA tests (test/torch/kernels/latent-step.test.ts, whose
# CUDA tests cover the fused kernel), the latent-step benchmark on the GPU (fused vs the composed ops,
# float32 and bfloat16), and, on random weights in bfloat16, a Qwen2-0.5B-shaped phase-1 latent
# training step (bench/sft.ts, full 24 layers, 151,936-token vocabulary) and Qwen2-0.5B decoding
# (bench/qwen2.ts, with the memory-bandwidth floor), ours vs PyTorch. Prints one table and writes
# gpu-check.json (to $OUT when set, else to the log folder).
#
#   bench/gpu-check.sh            run the check (on the GPU machine)
#   bench/gpu-check.sh --dry-run  the same steps here, without a GPU: no build (the addon already built),
#                                 the CUDA tests listed and skipped, every benchmark on the CPU with a tiny
#                                 shape and one sample; the same table and JSON (for trying the script)
#   bench/gpu-check.sh --pack     prepare .gpu/ here for the trip: node.xz and node_modules.tar.xz
#
# The GPU machine needs: python3 with a CUDA torch and transformers (or PYTHON=...), cmake, a C++
# compiler, nvcc (CUDA_HOME, default /usr/local/cuda). It needs no Node.js and no network: the node
# binary comes as $NODE, .gpu/node or .gpu/node.xz, and the packages (jest, ts-jest, typescript,
# node-api-headers) as ./node_modules or .gpu/node_modules.tar.xz — both unpacked with Python's lzma.
#
# Environment: NODE, PYTHON, CUDA_HOME, CUDA_ARCHS (default 90: Hopper), BUILD_DIR (default
# build/gpu-check), OUT (also copy the logs and the JSON there), GPU_CHECK_ALLOW_NO_GPU=1 (build and
# test without a GPU: the CUDA tests are skipped and the benchmarks left out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PACK_DIR="$ROOT/.gpu"

say() { printf '[gpu-check %4ss] %s\n' "$((SECONDS))" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if [[ "${1:-}" == "--pack" ]]; then
  node_bin="${NODE:-$(command -v node || true)}"
  [[ -x "$node_bin" ]] || die "no node binary to pack (set NODE=/path/to/node)"
  [[ -d node_modules/jest && -d node_modules/typescript && -d node_modules/node-api-headers ]] ||
    die "node_modules lacks jest, typescript or node-api-headers: run npm install first"
  mkdir -p "$PACK_DIR"
  say "compressing $node_bin -> .gpu/node.xz"
  xz -T0 -6 -c "$node_bin" >"$PACK_DIR/node.xz.tmp" && mv "$PACK_DIR/node.xz.tmp" "$PACK_DIR/node.xz"
  say "packing node_modules -> .gpu/node_modules.tar.xz"
  tar -cf - node_modules | xz -T0 -6 >"$PACK_DIR/node_modules.tar.xz.tmp" && mv "$PACK_DIR/node_modules.tar.xz.tmp" "$PACK_DIR/node_modules.tar.xz"
  du -h "$PACK_DIR"/node.xz "$PACK_DIR"/node_modules.tar.xz >&2
  packed=$(($(stat -c %s "$PACK_DIR/node.xz") + $(stat -c %s "$PACK_DIR/node_modules.tar.xz")))
  ((packed < 56 * 1024 * 1024)) || say "WARNING: .gpu holds $((packed >> 20)) MiB: with the tree it may not fit a 64 MiB transfer"
  say "done: carry .gpu (ignore it in git: echo /.gpu/ >> .git/info/exclude) and run bench/gpu-check.sh there"
  exit 0
fi
DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
[[ $# -eq 0 ]] || die "unknown argument $1 (usage: bench/gpu-check.sh [--dry-run | --pack])"

if [[ $DRY_RUN == 1 && -z "${PYTHON:-}" ]]; then
  # The project's Python, as the benchmarks find it.
  PYTHON="$(sed -n 's/.*"python": *"\([^"]*\)".*/\1/p' .torch-env.json 2>/dev/null || true)"
  [[ -x "$PYTHON" ]] || PYTHON="$ROOT/.venv/bin/python"
fi
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || die "no $PYTHON (set PYTHON to a Python with a CUDA torch)"
PYTHON="$(command -v "$PYTHON")"
LOG_DIR="$(mktemp -d /tmp/gpu-check.XXXXXX)"
finish() {
  # Few files come back from a device run: the summary, and every log and result in one archive.
  if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then
    cp "$LOG_DIR/summary.log" "$OUT"/ 2>/dev/null || true
    tar -czf "$OUT/gpu-check-logs.tar.gz" -C "$LOG_DIR" . 2>/dev/null || true
  fi
}
trap finish EXIT

# ---- node and node_modules (decompressed with Python: xz may be missing there) ----
unxz_py() { "$PYTHON" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
if [[ -z "${NODE:-}" ]]; then
  if [[ -x "$PACK_DIR/node" ]]; then NODE="$PACK_DIR/node"
  elif [[ -f "$PACK_DIR/node.xz" ]]; then
    say "unpacking .gpu/node.xz"
    unxz_py "$PACK_DIR/node.xz" /tmp/gpu-check-node && chmod +x /tmp/gpu-check-node
    NODE=/tmp/gpu-check-node
  else NODE="$(command -v node || true)"; fi
fi
[[ -n "$NODE" && -x "$NODE" ]] || die "no node binary: set NODE, or carry .gpu/node or .gpu/node.xz (bench/gpu-check.sh --pack)"
NODE="$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE")"
"$NODE" --version >/dev/null || die "$NODE does not run here"
if [[ ! -d node_modules/jest ]]; then
  [[ -f "$PACK_DIR/node_modules.tar.xz" ]] || die "no node_modules: carry it or .gpu/node_modules.tar.xz (bench/gpu-check.sh --pack)"
  say "unpacking .gpu/node_modules.tar.xz"
  "$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(".")' "$PACK_DIR/node_modules.tar.xz"
fi
NAPI_INC="$ROOT/node_modules/node-api-headers/include"
[[ -f "$NAPI_INC/node_api.h" ]] || die "node_modules/node-api-headers is missing"
export PATH="$(dirname "$NODE"):$PATH"

# ---- torch and GPU ----
read -r TORCH_DIR TORCH_VERSION TORCH_CUDA GPU_NAME < <("$PYTHON" -c '
import os, torch
gpu = torch.cuda.get_device_name(0).replace(" ", "_") if torch.cuda.is_available() else "none"
print(os.path.dirname(torch.__file__), torch.__version__, torch.version.cuda or "none", gpu)') ||
  die "$PYTHON cannot import torch"
HAVE_GPU=1
if [[ $DRY_RUN == 1 ]]; then
  HAVE_GPU=0
elif [[ "$TORCH_CUDA" == none ]]; then
  die "$PYTHON has torch $TORCH_VERSION without CUDA"
elif [[ "$GPU_NAME" == none ]]; then
  [[ "${GPU_CHECK_ALLOW_NO_GPU:-0}" == 1 ]] || die "torch $TORCH_VERSION sees no GPU (GPU_CHECK_ALLOW_NO_GPU=1 to build and test anyway)"
  HAVE_GPU=0
fi
say "node $("$NODE" --version), torch $TORCH_VERSION (CUDA $TORCH_CUDA) at $TORCH_DIR, GPU ${GPU_NAME//_/ }${DRY_RUN:+}$([[ $DRY_RUN == 1 ]] && echo ' (dry run)')"

if [[ $DRY_RUN == 1 ]]; then
  ADDON="${LATENT_TOKENS_ADDON:-$ROOT/build/Release/latent_tokens.node}"
  [[ -f "$ADDON" ]] || die "dry run: no addon at $ADDON (npm run build:native)"
  say "dry run: no build, using $ADDON"
  build_seconds=0
  build_result="skipped (dry run): $ADDON"
else
# ---- build: plain CMake (what cmake-js does, minus Node's headers download), into its own folder ----
  CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
  CUDA_ARCHS="${CUDA_ARCHS:-90}"
  BUILD_DIR="${BUILD_DIR:-$ROOT/build/gpu-check}"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && ! grep -q "^CMAKE_PREFIX_PATH:.*=$TORCH_DIR;" "$BUILD_DIR/CMakeCache.txt" && rm -rf "$BUILD_DIR"
  say "configuring $BUILD_DIR (CUDA archs $CUDA_ARCHS)"
  build_started=$SECONDS
  TORCH_CUDA_ARCH_LIST="$(sed -E 's/([0-9]+)([0-9])/\1.\2/g' <<<"$CUDA_ARCHS")" \
    timeout 120 cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TORCH_DIR;$TORCH_DIR/share/cmake" \
    -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_HOME" -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" \
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" \
    -DCMAKE_JS_INC="$NAPI_INC" -DCMAKE_JS_SRC= -DCMAKE_JS_LIB= \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$BUILD_DIR/Release" >"$LOG_DIR/configure.log" 2>&1 ||
    { tail -40 "$LOG_DIR/configure.log" >&2; die "cmake configure failed (log above)"; }
  grep -q "latent-tokens: building with CUDA" "$LOG_DIR/configure.log" ||
    { grep -i "latent-tokens\|cuda" "$LOG_DIR/configure.log" | tail -10 >&2; die "the configure did not enable the CUDA kernels"; }
  say "building"
  timeout 360 cmake --build "$BUILD_DIR" --parallel "$(nproc)" >"$LOG_DIR/build.log" 2>&1 ||
    { tail -60 "$LOG_DIR/build.log" >&2; die "build failed (log above)"; }
  ADDON="$BUILD_DIR/Release/latent_tokens.node"
  [[ -f "$ADDON" ]] || die "the build produced no $ADDON"
  ldd "$ADDON" | grep -q libtorch_cuda || die "$ADDON does not link libtorch_cuda"
  build_seconds=$((SECONDS - build_started))
  build_result="$build_seconds s, torch $TORCH_VERSION, CUDA $TORCH_CUDA, archs $CUDA_ARCHS, links libtorch_cuda"
fi
export LATENT_TOKENS_ADDON="$ADDON" LT_PYTHON="$PYTHON"

# ---- tests ----
CUDA_TEST_FILES=(test/torch/kernels/latent-step.test.ts test/torch/runtime.test.ts)
say "jest ${CUDA_TEST_FILES[*]}"
test_status=0
test_filter=()
[[ $DRY_RUN == 1 ]] && test_filter=(--testNamePattern 'CUDA')  # the CUDA tests alone (skipped or run without a GPU, by design)
timeout 180 "$NODE" node_modules/jest/bin/jest.js --ci --verbose --json --outputFile="$LOG_DIR/test.json" "${test_filter[@]}" \
  "${CUDA_TEST_FILES[@]}" >"$LOG_DIR/test.log" 2>&1 || test_status=$?
tests_line="$(grep -E '^Tests:' "$LOG_DIR/test.log" | tail -1 || true)"
cuda_tests="$("$PYTHON" -c '
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except Exception as e:
    print("unknown (%s)" % e); sys.exit()
cuda = [t for r in report["testResults"] for t in r["assertionResults"] if any("CUDA" in a for a in t["ancestorTitles"])]
by = lambda s: sum(t["status"] == s for t in cuda)
print("%d passed, %d failed, %d skipped" % (by("passed"), by("failed"), by("pending") + by("skipped")))' "$LOG_DIR/test.json")"
if [[ $test_status -ne 0 ]]; then grep -E '●|✕' "$LOG_DIR/test.log" | head -30 >&2 || true; fi

# ---- benchmarks: each writes its JSON result; failures are reported in the table, not fatal ----
# bench LABEL SECONDS ENV... -- ARGS...: node bench/run.js ARGS with ENV, result in $LOG_DIR/LABEL.json
bench_results=()
bench() {
  local label=$1 limit=$2; shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  say "benchmark $label"
  local status=0
  env "${envs[@]}" timeout "$limit" "$NODE" bench/run.js "$@" --out "$LOG_DIR/$label.json" >"$LOG_DIR/$label.log" 2>&1 || status=$?
  if [[ $status -ne 0 ]]; then
    tail -20 "$LOG_DIR/$label.log" >&2
    say "benchmark $label failed (exit $status)"
    rm -f "$LOG_DIR/$label.json"
  fi
  bench_results+=("$label=$LOG_DIR/$label.json")
}
if [[ $DRY_RUN == 1 ]]; then
  # Every benchmark the GPU run makes, on the CPU, tiny, one sample: checks the plumbing, not the speed.
  one=(--repeats 1 --rounds 1 --warmup-ms 0 --sample-ms 1 --threads 1)
  bench latent-step-float32 300 LATENT_STEP_DEVICE=cpu LATENT_STEP_DTYPE=float32 -- latent-step "${one[@]}" --cases fwd.B1.D896.fused,fwd.B1.D896.composed
  bench qwen2-bfloat16 300 QWEN2_BENCH_SHAPE=tiny QWEN2_BENCH_DEVICE=cpu QWEN2_BENCH_DTYPE=bfloat16 QWEN2_BENCH_FLOOR_JSON="$LOG_DIR/qwen2-floor.json" -- \
    qwen2 "${one[@]}"
  bench sft-bfloat16 300 SFT_BENCH_SHAPE=tiny SFT_BENCH_DEVICE=cpu SFT_BENCH_DTYPE=bfloat16 -- sft "${one[@]}" --cases full.k4
elif [[ $HAVE_GPU == 1 ]]; then
  for dtype in float32 bfloat16; do
    bench latent-step-$dtype 120 LATENT_STEP_DEVICE=cuda LATENT_STEP_DTYPE=$dtype -- latent-step --repeats 5 --rounds 1 --warmup-ms 50 --sample-ms 10
  done
  bench qwen2-bfloat16 150 QWEN2_BENCH_SHAPE=qwen2-0.5b QWEN2_BENCH_DEVICE=cuda QWEN2_BENCH_DTYPE=bfloat16 QWEN2_BENCH_FLOOR_JSON="$LOG_DIR/qwen2-floor.json" -- \
    qwen2 --repeats 5 --rounds 1
  bench sft-bfloat16 150 SFT_BENCH_SHAPE=qwen2-0.5b SFT_BENCH_DEVICE=cuda SFT_BENCH_DTYPE=bfloat16 -- sft --repeats 5 --rounds 1 --cases full.k4,full.k0
fi

# ---- summary: one table, and the JSON ----
JSON_OUT="${OUT:-$LOG_DIR}/gpu-check.json"
"$NODE" bench/gpu-check-report.js --json "$JSON_OUT" --floor "$LOG_DIR/qwen2-floor.json" \
  --step "build=$build_result" \
  --step "tests=${tests_line:-no summary (see $LOG_DIR/test.log)} (exit $test_status); CUDA tests: $cuda_tests" \
  --step "GPU=${GPU_NAME//_/ }$([[ $DRY_RUN == 1 ]] && echo ' (dry run: CPU)')" \
  --step "torch=$TORCH_VERSION (CUDA $TORCH_CUDA)" \
  --step "time=$SECONDS s in all" \
  "${bench_results[@]}" | tee "$LOG_DIR/summary.log"
echo "logs: $LOG_DIR${OUT:+ (copied to $OUT)}; JSON: $JSON_OUT"
exit "$test_status"
