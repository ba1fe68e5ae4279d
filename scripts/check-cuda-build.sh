#!/usr/bin/env bash
# Compiles and links the addon against the CUDA 13 torch wheel (torch 2.14.1), with the .cu kernels,
# on a machine without a GPU; then loads it and runs the latent-step tests (CUDA cases are skipped
# with their reason; CUDA calls must fail with a JS error, not crash). The CUDA torch is installed
# once into a cache folder (4.4 GB) and reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
nvcc="${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"
if [ ! -x "$nvcc" ]; then
  echo "check-cuda-build: no nvcc at $nvcc; skipping the CUDA build check"
  exit 0
fi
venv="${LT_CUDA_VENV:-$HOME/.cache/latent-tokens/cuda-venv}"
index=$(python3 -m pip config list 2>/dev/null | sed -n "s/.*extra-index-url='\([^']*\)'.*/\1/p")
index_args=()
if [ -n "$index" ]; then
  set -- $index
  index_args=(--index-url "$1")
  shift
  for u in "$@"; do index_args+=(--extra-index-url "$u"); done
fi
if ! "$venv/bin/python" -c "import torch; assert torch.version.cuda" >/dev/null 2>&1; then
  echo "check-cuda-build: installing torch 2.14.1 (CUDA 13) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --retries 1 --no-deps "${index_args[@]}" torch==2.14.1 nvidia-cublas nvidia-cuda-nvrtc \
    nvidia-cudnn-cu13 nvidia-nvtx nvidia-cuda-runtime nvidia-cuda-cupti nvidia-cufft nvidia-curand nvidia-cusolver nvidia-cusparse \
    nvidia-cusparselt-cu13 nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-cufile
  "$venv/bin/pip" install -q --disable-pip-version-check --retries 1 "${index_args[@]}" filelock typing-extensions sympy networkx jinja2 fsspec
fi
GPU_CHECK_ALLOW_NO_GPU=1 PYTHON="$venv/bin/python" CUDA_ARCHS="${LT_CUDA_ARCHS:-80;90}" BUILD_DIR="${LT_CUDA_BUILD_DIR:-$root/build-cuda}" bash bench/gpu-check.sh
