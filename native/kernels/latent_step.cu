// CUDA kernels of torch.latentStep (see latent_step.h for the formulas and argument blocks).
//
// No torch headers here: nvcc compiles this file in C++17 while libtorch's headers may need C++20.
// latent_step.cc checks the arguments, allocates the outputs and passes raw pointers, sizes and the
// current stream.
//
//   forward:  one block per row; two strided passes over the row (sum of squares, then n, embed and
//             the stop dot product), each reduced across the block in the accumulation type.
//   backward: one block per row for dh (one reduction, mean(gu*u)); a column kernel for the
//             parameter gradients (32 columns x 8 row groups per block, reduced through shared
//             memory) whose block 0 also sums the stop-logit gradient.
#include "latent_step.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace {

template <typename T>
struct Accumulate {
  using type = float;
};
template <>
struct Accumulate<double> {
  using type = double;
};

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ double load(const double* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }

__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(double* p, int64_t i, double v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

__device__ __forceinline__ float reciprocal_sqrt(float v) { return rsqrtf(v); }
__device__ __forceinline__ double reciprocal_sqrt(double v) { return rsqrt(v); }

constexpr int kRowThreads = 256;
constexpr int kWarp = 32;

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block; every thread gets the total. `scratch` holds one value per warp and may be
// reused right after the call returns (the trailing barrier protects it).
template <typename acc_t>
__device__ acc_t block_sum(acc_t v, acc_t* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = (blockDim.x + kWarp - 1) / kWarp;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  acc_t total = 0;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads) latent_step_forward_kernel(
    const T* __restrict__ h, const T* __restrict__ norm_weight, const T* __restrict__ gain, const T* __restrict__ bias,
    const T* __restrict__ stop_weight, const T* __restrict__ stop_bias, int64_t dim, int64_t h_row_stride,
    double scale_in, double eps_in, T* __restrict__ embed, T* __restrict__ stop_logit,
    typename Accumulate<T>::type* __restrict__ rstd) {
  using acc_t = typename Accumulate<T>::type;
  __shared__ acc_t scratch[kRowThreads / kWarp];
  const int64_t row = blockIdx.x;
  const T* x = h + row * h_row_stride;
  T* e = embed + row * dim;
  const acc_t scale = static_cast<acc_t>(scale_in);

  acc_t sum_sq = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const acc_t v = load(x, j);
    sum_sq += v * v;
  }
  const acc_t r = reciprocal_sqrt(block_sum(sum_sq, scratch) / static_cast<acc_t>(dim) + static_cast<acc_t>(eps_in));

  acc_t dot = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const acc_t n = load(x, j) * r * load(norm_weight, j);
    store(e, j, scale * n * load(gain, j) + load(bias, j));
    dot += n * load(stop_weight, j);
  }
  dot = block_sum(dot, scratch);
  if (threadIdx.x == 0) {
    store(stop_logit, row, dot + load(stop_bias, 0));
    rstd[row] = r;
  }
}

// dL/dn_j = scale*gain_j*ge_j + gs*stopWeight_j; with u = h*r and gu = dL/dn * w:
// dL/dh = r * (gu - u * mean(gu*u)).
template <typename T>
__global__ void __launch_bounds__(kRowThreads) latent_step_grad_h_kernel(
    const T* __restrict__ h, const T* __restrict__ norm_weight, const T* __restrict__ gain,
    const T* __restrict__ stop_weight, const typename Accumulate<T>::type* __restrict__ rstd,
    const T* __restrict__ grad_embed, const T* __restrict__ grad_stop, int64_t dim, int64_t h_row_stride,
    int64_t grad_embed_row_stride, double scale_in, T* __restrict__ grad_h) {
  using acc_t = typename Accumulate<T>::type;
  __shared__ acc_t scratch[kRowThreads / kWarp];
  const int64_t row = blockIdx.x;
  const T* x = h + row * h_row_stride;
  const T* ge = grad_embed + row * grad_embed_row_stride;
  const acc_t r = rstd[row];
  const acc_t gs = load(grad_stop, row);
  const acc_t scale = static_cast<acc_t>(scale_in);
  auto grad_u = [&](int64_t j) {
    return (scale * load(gain, j) * load(ge, j) + gs * load(stop_weight, j)) * load(norm_weight, j);
  };

  acc_t partial = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) partial += grad_u(j) * load(x, j);
  const acc_t mean_gu_u = block_sum(partial, scratch) * r / static_cast<acc_t>(dim);

  T* out = grad_h + row * dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) store(out, j, r * (grad_u(j) - load(x, j) * r * mean_gu_u));
}

constexpr int kColumnsPerBlock = 32;
constexpr int kRowGroups = 8;

template <typename T>
__global__ void __launch_bounds__(kColumnsPerBlock* kRowGroups) latent_step_grad_params_kernel(
    const T* __restrict__ h, const T* __restrict__ norm_weight, const T* __restrict__ gain,
    const T* __restrict__ stop_weight, const typename Accumulate<T>::type* __restrict__ rstd,
    const T* __restrict__ grad_embed, const T* __restrict__ grad_stop, int64_t rows, int64_t dim,
    int64_t h_row_stride, int64_t grad_embed_row_stride, double scale_in, T* __restrict__ grad_norm_weight,
    T* __restrict__ grad_gain, T* __restrict__ grad_bias, T* __restrict__ grad_stop_weight,
    T* __restrict__ grad_stop_bias) {
  using acc_t = typename Accumulate<T>::type;
  constexpr int kSums = 4;  // norm weight, gain, bias, stop weight
  __shared__ acc_t partial[kSums][kRowGroups][kColumnsPerBlock + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + threadIdx.x;
  const acc_t scale = static_cast<acc_t>(scale_in);

  acc_t gw = 0, gg = 0, gb = 0, gsw = 0;
  if (j < dim) {
    const acc_t w = load(norm_weight, j), g = load(gain, j), sw = load(stop_weight, j);
    for (int64_t b = threadIdx.y; b < rows; b += kRowGroups) {
      const acc_t u = load(h + b * h_row_stride, j) * rstd[b];
      const acc_t e = load(grad_embed + b * grad_embed_row_stride, j);
      const acc_t gs = load(grad_stop, b);
      gw += (scale * g * e + gs * sw) * u;
      gg += scale * u * w * e;
      gb += e;
      gsw += gs * u * w;
    }
  }
  partial[0][threadIdx.y][threadIdx.x] = gw;
  partial[1][threadIdx.y][threadIdx.x] = gg;
  partial[2][threadIdx.y][threadIdx.x] = gb;
  partial[3][threadIdx.y][threadIdx.x] = gsw;
  __syncthreads();
  if (threadIdx.y < kSums && j < dim) {
    acc_t total = 0;
    for (int y = 0; y < kRowGroups; ++y) total += partial[threadIdx.y][y][threadIdx.x];
    T* out = threadIdx.y == 0 ? grad_norm_weight : threadIdx.y == 1 ? grad_gain : threadIdx.y == 2 ? grad_bias : grad_stop_weight;
    if (out != nullptr) store(out, j, total);
  }

  if (blockIdx.x == 0 && grad_stop_bias != nullptr) {
    __shared__ acc_t scratch[kColumnsPerBlock * kRowGroups / kWarp];
    const int t = threadIdx.y * kColumnsPerBlock + threadIdx.x;  // warps are whole rows of 32 x-threads
    acc_t s = 0;
    for (int64_t b = t; b < rows; b += kColumnsPerBlock * kRowGroups) s += load(grad_stop, b);
    s = warp_sum(s);
    if (threadIdx.x == 0) scratch[threadIdx.y] = s;
    __syncthreads();
    if (t == 0) {
      acc_t total = 0;
      for (int w = 0; w < kRowGroups; ++w) total += scratch[w];
      store(grad_stop_bias, 0, total);
    }
  }
}

const char* last_error() {
  const cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}

template <typename T>
const char* forward(const lt_latent_step_forward_args& a, cudaStream_t stream) {
  if (a.rows == 0) return nullptr;
  if (a.rows > 0x7fffffffLL) return "latentStep: more than 2^31-1 rows";
  latent_step_forward_kernel<T><<<static_cast<unsigned>(a.rows), kRowThreads, 0, stream>>>(
      static_cast<const T*>(a.h), static_cast<const T*>(a.norm_weight), static_cast<const T*>(a.gain),
      static_cast<const T*>(a.bias), static_cast<const T*>(a.stop_weight), static_cast<const T*>(a.stop_bias), a.dim,
      a.h_row_stride, a.scale, a.eps, static_cast<T*>(a.embed), static_cast<T*>(a.stop_logit),
      static_cast<typename Accumulate<T>::type*>(a.rstd));
  return last_error();
}

template <typename T>
const char* backward(const lt_latent_step_backward_args& a, cudaStream_t stream) {
  using acc_t = typename Accumulate<T>::type;
  if (a.rows > 0x7fffffffLL) return "latentStep: more than 2^31-1 rows";
  if (a.grad_h != nullptr && a.rows > 0) {
    latent_step_grad_h_kernel<T><<<static_cast<unsigned>(a.rows), kRowThreads, 0, stream>>>(
        static_cast<const T*>(a.h), static_cast<const T*>(a.norm_weight), static_cast<const T*>(a.gain),
        static_cast<const T*>(a.stop_weight), static_cast<const acc_t*>(a.rstd), static_cast<const T*>(a.grad_embed),
        static_cast<const T*>(a.grad_stop), a.dim, a.h_row_stride, a.grad_embed_row_stride, a.scale,
        static_cast<T*>(a.grad_h));
    if (const char* error = last_error()) return error;
  }
  if (a.grad_norm_weight || a.grad_gain || a.grad_bias || a.grad_stop_weight || a.grad_stop_bias) {
    const unsigned blocks = static_cast<unsigned>((a.dim + kColumnsPerBlock - 1) / kColumnsPerBlock);
    latent_step_grad_params_kernel<T><<<blocks, dim3(kColumnsPerBlock, kRowGroups), 0, stream>>>(
        static_cast<const T*>(a.h), static_cast<const T*>(a.norm_weight), static_cast<const T*>(a.gain),
        static_cast<const T*>(a.stop_weight), static_cast<const acc_t*>(a.rstd), static_cast<const T*>(a.grad_embed),
        static_cast<const T*>(a.grad_stop), a.rows, a.dim, a.h_row_stride, a.grad_embed_row_stride, a.scale,
        static_cast<T*>(a.grad_norm_weight), static_cast<T*>(a.grad_gain), static_cast<T*>(a.grad_bias),
        static_cast<T*>(a.grad_stop_weight), static_cast<T*>(a.grad_stop_bias));
    if (const char* error = last_error()) return error;
  }
  return nullptr;
}

template <typename Args>
const char* dispatch(const Args& a, void* stream, const char* (*f32)(const Args&, cudaStream_t),
                     const char* (*f64)(const Args&, cudaStream_t), const char* (*f16)(const Args&, cudaStream_t),
                     const char* (*bf16)(const Args&, cudaStream_t)) {
  const auto s = static_cast<cudaStream_t>(stream);
  switch (a.dtype) {
    case LT_LATENT_FLOAT32: return f32(a, s);
    case LT_LATENT_FLOAT64: return f64(a, s);
    case LT_LATENT_FLOAT16: return f16(a, s);
    case LT_LATENT_BFLOAT16: return bf16(a, s);
  }
  return "latentStep: unknown dtype code";
}

}  // namespace

extern "C" const char* lt_latent_step_forward_cuda(const lt_latent_step_forward_args* args, void* stream) {
  return dispatch(*args, stream, &forward<float>, &forward<double>, &forward<__half>, &forward<__nv_bfloat16>);
}

extern "C" const char* lt_latent_step_backward_cuda(const lt_latent_step_backward_args* args, void* stream) {
  return dispatch(*args, stream, &backward<float>, &backward<double>, &backward<__half>, &backward<__nv_bfloat16>);
}
